// berth: the command-line client of berthd.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/base/strings.h"
#include "io/reactor.h"
#include "tools/cli/cli.h"

namespace berth::cli {

static const Command kCommands[] = {
    {"commit", "Create a new image from a container's changes", &cmd_commit},
    {"container", "Manage containers", &cmd_container},
    {"create", "Create a new container", &cmd_create},
    {"export", "Export a container's filesystem as a tar archive", &cmd_export},
    {"history", "Show the history of an image", &cmd_history},
    {"image", "Manage images", &cmd_image},
    {"images", "List images", &cmd_images},
    {"import", "Import the contents from a tarball to create a filesystem image", &cmd_import},
    {"info", "Display system-wide information", &cmd_info},
    {"inspect", "Return low-level information on berth objects", &cmd_inspect},
    {"kill", "Kill one or more running containers", &cmd_kill},
    {"load", "Load an image from a tar archive or STDIN", &cmd_load},
    {"login", "Authenticate to a registry", &cmd_login},
    {"logout", "Log out from a registry", &cmd_logout},
    {"logs", "Fetch the logs of a container", &cmd_logs},
    {"pause", "Pause all processes within one or more containers", &cmd_pause},
    {"ps", "List containers", &cmd_ps},
    {"pull", "Download an image from a registry", &cmd_pull},
    {"push", "Upload an image to a registry", &cmd_push},
    {"rename", "Rename a container", &cmd_rename},
    {"restart", "Restart one or more containers", &cmd_restart},
    {"rm", "Remove one or more containers", &cmd_rm},
    {"rmi", "Remove one or more images", &cmd_rmi},
    {"run", "Create and run a new container from an image", &cmd_run},
    {"save", "Save one or more images to a tar archive (streamed to STDOUT by default)", &cmd_save},
    {"start", "Start one or more stopped containers", &cmd_start},
    {"stop", "Stop one or more running containers", &cmd_stop},
    {"tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", &cmd_tag},
    {"top", "Display the running processes of a container", &cmd_top},
    {"unpause", "Unpause all processes within one or more containers", &cmd_unpause},
    {"version", "Show the berth version information", &cmd_version},
    {"wait", "Block until one or more containers stop, then print their exit codes", &cmd_wait},
};

int report(const Error& e) {
  std::fprintf(stderr, "%s\n", e.message.c_str());
  return 1;
}

static void usage(FILE* out) {
  std::fputs(
      "Usage: berth [OPTIONS] COMMAND\n"
      "\n"
      "A fast container engine (client of berthd).\n"
      "\n"
      "Options:\n"
      "  -H, --host URL   daemon socket (default $BERTH_HOST or unix:///run/berth.sock)\n"
      "  -h, --help       print this help\n"
      "\n"
      "Commands:\n",
      out);
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fputs("\nRun 'berth COMMAND --help' for more information on a command.\n", out);
}

}  // namespace berth::cli

int main(int argc, char** argv) {
  using namespace berth;
  std::string host;
  if (const char* env = std::getenv("BERTH_HOST"); env && *env) host = env;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-H" || a == "--host") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "berth: flag %s needs a value\n", a.c_str());
        return 2;
      }
      host = argv[++i];
    } else if (a.starts_with("--host=")) {
      host = a.substr(7);
    } else if (a == "-h" || a == "--help") {
      cli::usage(stdout);
      return 0;
    } else if (a.starts_with("-")) {
      std::fprintf(stderr, "berth: unknown flag %s (see berth --help)\n", a.c_str());
      return 2;
    } else {
      break;
    }
  }
  if (i >= argc) {
    cli::usage(stderr);
    return 2;
  }
  if (host.empty()) host = "unix:///run/berth.sock";
  auto ep = io::parse_endpoint(host);
  if (!ep) return cli::report(ep.error());

  const cli::Command* cmd = nullptr;
  for (const auto& c : cli::kCommands)
    if (std::strcmp(c.name, argv[i]) == 0) cmd = &c;
  if (!cmd) {
    std::fprintf(stderr, "berth: '%s' is not a berth command (see berth --help)\n", argv[i]);
    return 2;
  }
  cli::Args args(argv + i + 1, argv + argc);
  std::string path = std::string("berth ") + cmd->name;
  // The image family's registry verbs live with the other registry verbs.
  if (cmd->fn == &cli::cmd_image && !args.empty() && (args[0] == "pull" || args[0] == "push")) {
    static const cli::Command kImagePull{"pull", "", &cli::cmd_pull};
    static const cli::Command kImagePush{"push", "", &cli::cmd_push};
    cmd = args[0] == "pull" ? &kImagePull : &kImagePush;
    path = "berth image " + args[0];
    args.erase(args.begin());
  }

  auto reactor = io::Reactor::create({.entries = 64});
  if (!reactor) return cli::report(reactor.error());
  cli::Cli c{api::client::Client(*ep), ::isatty(1) == 1, ::isatty(0) == 1, std::move(path)};
  return (*reactor)->run_until(cmd->fn(c, std::move(args)));
}
