// berth pull, push, login, logout: the registry verbs. The daemon talks to
// the registry; the CLI names the image, passes credentials from docker's
// config.json (X-Registry-Auth) and shows the daemon's JSON message stream
// as docker does: live per-layer lines on a terminal, plain lines otherwise.
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "layers/image/reference.h"
#include "tools/cli/cli.h"
#include "tools/cli/docker_config.h"
#include "tools/cli/flags.h"
#include "tools/cli/progress.h"
#include "tools/cli/query.h"

namespace berth::cli {

namespace {

int terminal_width() {
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 200;  // docker's assumption when the width is unknown
}

std::string daemon_error(std::string message) {
  if (message.starts_with("Error response from daemon: ")) return message;
  return "Error response from daemon: " + message;
}

// The credentials config.json holds for a registry domain, as the header
// value the daemon expects. A config that cannot be read is a warning, as
// in docker: the request goes on without credentials.
std::string auth_for_domain(const std::string& domain) {
  auto config = DockerConfig::load(DockerConfig::default_path());
  if (!config) {
    std::fprintf(stderr, "WARNING: Error loading config file: %s\n",
                 config.error().message.c_str());
    return registry_auth_header(std::nullopt);
  }
  return registry_auth_header(config->find(registry_key(domain)));
}

// POSTs target with the credentials and shows the JSON message stream that
// answers it (nothing when quiet). An error in the stream ends it.
io::Task<Result<void>> show_stream(Cli* cli, std::string target, std::string auth, bool quiet) {
  io::http::Headers headers{{"X-Registry-Auth", std::move(auth)}};
  auto conn = co_await cli->client.open_stream("POST", std::move(target), std::string(),
                                               std::move(headers));
  if (!conn) co_return std::unexpected(std::move(conn.error()));
  FILE* sink = quiet ? std::fopen("/dev/null", "we") : stdout;
  if (!sink) sink = stdout;
  JsonMessageDisplay display(sink, !quiet && cli->stdout_tty, terminal_width());
  Result<void> result;
  for (;;) {
    auto chunk = co_await (*conn)->read_body();
    if (!chunk) {
      result = std::unexpected(std::move(chunk.error()));
      break;
    }
    if (chunk->empty()) {
      result = display.finish();
      break;
    }
    result = display.feed(*chunk);
    if (!result) break;
  }
  if (sink != stdout) std::fclose(sink);
  std::fflush(stdout);
  if (!result) co_return fail(result.error().code, daemon_error(result.error().message));
  co_return Result<void>{};
}

// The reference for pull and push, docker's way: an invalid one is an error,
// a bare name gets "latest" (announced unless quiet).
Result<layers::image::Reference> name_reference(const std::string& arg, bool all_tags, bool quiet) {
  auto ref = BERTH_TRY(layers::image::parse_reference(arg, false));
  if (all_tags && (ref.has_tag() || ref.has_digest()))
    return fail(Errc::invalid_argument, "tag can't be used with --all-tags/-a");
  if (!all_tags && !ref.has_tag() && !ref.has_digest()) {
    ref.tag = "latest";
    if (!quiet) std::printf("Using default tag: latest\n");
  }
  return ref;
}

// Reads a line from fd (blocking; the CLI has nothing else to do), without
// its line ending.
std::string read_line(int fd) {
  std::string out;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') out.push_back(c);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return out;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Prompts on the terminal and reads a password without echoing it. Echo
// goes off before the prompt shows, so nothing typed after it is echoed
// (or dropped: the change leaves pending input alone).
std::string read_secret(const char* prompt) {
  termios saved{};
  bool restore = ::tcgetattr(0, &saved) == 0;
  if (restore) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSANOW, &quiet);
  }
  std::printf("%s", prompt);
  std::fflush(stdout);
  std::string s = read_line(0);
  if (restore) ::tcsetattr(0, TCSANOW, &saved);
  std::printf("\n");
  return s;
}

struct LoginAnswer {
  std::string status, identity_token;
};

io::Task<Result<LoginAnswer>> authenticate(Cli* cli, std::string user, std::string password,
                                           std::string server) {
  std::string body;
  json::Writer w(body);
  w.begin_object().kv("username", user).kv("password", password).kv("serveraddress", server);
  w.end_object();
  auto r = co_await cli->client.call("POST", str_cat(kApi, "/auth"), std::move(body));
  if (!r) co_return std::unexpected(std::move(r.error()));
  LoginAnswer a;
  if (auto p = json::parse(r->body)) {
    (void)json::for_each_root_field(**p,
                                    [&](std::string_view k, json::od::value v) -> Result<void> {
                                      if (json::is_null(v)) return {};
                                      auto s = json::get_string(v, k);
                                      if (!s) return {};
                                      if (iequals(k, "Status")) a.status = std::move(*s);
                                      if (iequals(k, "IdentityToken"))
                                        a.identity_token = std::move(*s);
                                      return {};
                                    });
  }
  co_return a;
}

int fail_with(const std::string& message) {
  return report(Error{Errc::invalid_argument, 0, message});
}

}  // namespace

// --- pull ----------------------------------------------------------------------------

io::Task<int> cmd_pull(Cli& cli, Args args) {
  std::string platform;
  bool quiet = false, all_tags = false, no_trust = true;
  FlagSet fs(cli.path, "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry");
  fs.add_bool('a', "all-tags", &all_tags, "Download all tagged images in the repository")
      .add_bool(0, "disable-content-trust", &no_trust, "Skip image verification (default true)")
      .add_string(0, "platform", &platform, "string",
                  "Set platform if server is multi-platform capable")
      .add_bool('q', "quiet", &quiet, "Suppress verbose output");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(1)) co_return *rc;
  auto ref = name_reference(fs.args()[0], all_tags, quiet);
  if (!ref) co_return report(ref.error());
  Query q;
  q.add("fromImage", ref->familiar_repository());
  // A digest names the image exactly: the daemon takes it in "tag".
  if (!all_tags) q.add("tag", ref->has_digest() ? ref->digest : ref->tag);
  if (!platform.empty()) q.add("platform", platform);
  std::string target = str_cat(kApi, "/images/create", q.str());
  std::fflush(stdout);
  auto shown = co_await show_stream(&cli, std::move(target), auth_for_domain(ref->domain), quiet);
  if (!shown) co_return report(shown.error());
  std::printf("%s\n", all_tags ? ref->repository().c_str() : ref->str().c_str());
  co_return 0;
}

// --- push ----------------------------------------------------------------------------

io::Task<int> cmd_push(Cli& cli, Args args) {
  bool quiet = false, all_tags = false, no_trust = true;
  FlagSet fs(cli.path, "[OPTIONS] NAME[:TAG]", "Upload an image to a registry");
  fs.add_bool('a', "all-tags", &all_tags, "Push all tags of an image to the repository")
      .add_bool(0, "disable-content-trust", &no_trust, "Skip image signing (default true)")
      .add_bool('q', "quiet", &quiet, "Suppress verbose output");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(1)) co_return *rc;
  auto ref = name_reference(fs.args()[0], all_tags, quiet);
  if (!ref) co_return report(ref.error());
  if (ref->has_digest())
    co_return fail_with(
        str_cat("invalid reference format: cannot push a digest reference (", fs.args()[0], ")"));
  Query q;
  if (!all_tags) q.add("tag", ref->tag);
  std::string target =
      str_cat(kApi, "/images/", path_escape(ref->familiar_repository()), "/push", q.str());
  std::fflush(stdout);
  auto shown = co_await show_stream(&cli, std::move(target), auth_for_domain(ref->domain), quiet);
  if (!shown) co_return report(shown.error());
  if (quiet) std::printf("%s\n", all_tags ? ref->repository().c_str() : ref->str().c_str());
  co_return 0;
}

// --- login ---------------------------------------------------------------------------

io::Task<int> cmd_login(Cli& cli, Args args) {
  std::string user, password;
  bool password_stdin = false;
  FlagSet fs(cli.path, "[OPTIONS] [SERVER]",
             "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.");
  fs.add_string('u', "username", &user, "string", "Username")
      .add_string('p', "password", &password, "string", "Password or Personal Access Token (PAT)")
      .add_bool(0, "password-stdin", &password_stdin,
                "Take the Password or Personal Access Token (PAT) from stdin");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.max_args(1)) co_return *rc;
  std::string given = fs.args().empty() ? std::string() : fs.args()[0];
  std::string key = registry_key(given);
  std::string server = key == kIndexServer ? key : given;

  if (!password.empty())
    std::fprintf(stderr,
                 "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
  if (password_stdin) {
    if (!password.empty())
      co_return fail_with("--password and --password-stdin are mutually exclusive");
    if (user.empty()) co_return fail_with("Must provide --username with --password-stdin");
    password = read_all(0);
    if (password.ends_with('\n')) password.pop_back();
    if (password.ends_with('\r')) password.pop_back();
  }
  user = std::string(trim(user));

  auto config = DockerConfig::load(DockerConfig::default_path());
  if (!config) co_return report(config.error());

  // Nothing given: the stored credentials first, as docker does.
  if (user.empty() && password.empty()) {
    auto stored = config->find(key);
    if (stored && !stored->username.empty() &&
        (!stored->password.empty() || !stored->identity_token.empty())) {
      std::fprintf(stderr, "Authenticating with existing credentials... [Username: %s]\n",
                   stored->username.c_str());
      std::string secret =
          stored->identity_token.empty() ? stored->password : stored->identity_token;
      auto a = co_await authenticate(&cli, stored->username, std::move(secret), server);
      if (a) {
        std::printf("%s\n", a->status.empty() ? "Login Succeeded" : a->status.c_str());
        co_return 0;
      }
      if (!cli.stdin_tty) co_return report(a.error());
      std::fprintf(stderr, "Login did not succeed, error: %s\n", a.error().message.c_str());
    }
  }
  if ((user.empty() || password.empty()) && !cli.stdin_tty)
    co_return fail_with("Error: Cannot perform an interactive login from a non TTY device");
  if (user.empty()) {
    if (key == kIndexServer)
      std::printf(
          "Log in with your Docker ID or email address to push and pull images from Docker Hub.\n");
    std::printf("Username: ");
    std::fflush(stdout);
    user = std::string(trim(read_line(0)));
    if (user.empty()) co_return fail_with("Error: Non-null Username Required");
  }
  if (password.empty()) {
    password = read_secret("Password: ");
    if (password.empty()) co_return fail_with("Error: Password Required");
  }

  auto a = co_await authenticate(&cli, user, password, server);
  if (!a) co_return report(a.error());
  AuthEntry entry{user, password, a->identity_token, key};
  config->set(entry);
  auto saved = config->save();
  if (!saved) co_return fail_with("Error saving credentials: " + saved.error().message);
  std::fprintf(stderr,
               "WARNING! Your credentials are stored unencrypted in '%s'.\n"
               "Configure a credential helper to remove this warning. See\n"
               "https://docs.docker.com/go/credential-store/\n\n",
               config->path().c_str());
  std::printf("%s\n", a->status.empty() ? "Login Succeeded" : a->status.c_str());
  co_return 0;
}

// --- logout --------------------------------------------------------------------------

io::Task<int> cmd_logout(Cli& cli, Args args) {
  FlagSet fs(cli.path, "[SERVER]",
             "Log out from a registry.\nIf no server is specified, the default is defined by the "
             "daemon.");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.max_args(1)) co_return *rc;
  std::string key = registry_key(fs.args().empty() ? std::string() : fs.args()[0]);
  auto config = DockerConfig::load(DockerConfig::default_path());
  if (!config) co_return report(config.error());
  if (!config->erase(key)) {
    std::printf("Not logged in to %s\n", key.c_str());
    co_return 0;
  }
  std::printf("Removing login credentials for %s\n", key.c_str());
  auto saved = config->save();
  if (!saved) co_return report(saved.error());
  co_return 0;
}

}  // namespace berth::cli
