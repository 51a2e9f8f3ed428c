// The berth CLI's shared parts: the command table, the API client, flag
// parsing helpers and docker-style output.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/client/client.h"
#include "io/task.h"

namespace berth::cli {

struct Cli {
  api::client::Client client;
  bool stdout_tty = false;
  bool stdin_tty = false;
  // The command as typed, for messages and usage lines: "berth images",
  // "berth image ls". Set by the dispatcher before a verb runs.
  std::string path = "berth";
};

using Args = std::vector<std::string>;
using CommandFn = io::Task<int> (*)(Cli&, Args);

struct Command {
  const char* name;
  const char* summary;
  CommandFn fn;
};

// Prints the error as one line to stderr; returns the exit code (1).
int report(const Error& e);

// The API prefix every request uses.
inline constexpr const char* kApi = "/v1.44";

// Verbs, one file per family.
io::Task<int> cmd_version(Cli& cli, Args args);
io::Task<int> cmd_info(Cli& cli, Args args);

// images.cc: listing, inspecting, tagging, removing, history, and the
// `berth image` family that groups all image verbs.
io::Task<int> cmd_images(Cli& cli, Args args);  // also `image ls`
io::Task<int> cmd_image_inspect(Cli& cli, Args args);
io::Task<int> cmd_history(Cli& cli, Args args);
io::Task<int> cmd_tag(Cli& cli, Args args);
io::Task<int> cmd_rmi(Cli& cli, Args args);  // also `image rm`
io::Task<int> cmd_image_prune(Cli& cli, Args args);
io::Task<int> cmd_image(Cli& cli, Args args);
// images_transfer.cc: archives in and out, streamed.
io::Task<int> cmd_import(Cli& cli, Args args);
io::Task<int> cmd_load(Cli& cli, Args args);
io::Task<int> cmd_save(Cli& cli, Args args);

// run.cc, start.cc: creating and running containers.
io::Task<int> cmd_run(Cli& cli, Args args);
io::Task<int> cmd_create(Cli& cli, Args args);
io::Task<int> cmd_start(Cli& cli, Args args);
// containers.cc: listing and lifecycle, and the `berth container` family.
io::Task<int> cmd_ps(Cli& cli, Args args);  // also `container ls`
io::Task<int> cmd_stop(Cli& cli, Args args);
io::Task<int> cmd_restart(Cli& cli, Args args);
io::Task<int> cmd_kill(Cli& cli, Args args);
io::Task<int> cmd_pause(Cli& cli, Args args);
io::Task<int> cmd_unpause(Cli& cli, Args args);
io::Task<int> cmd_rm(Cli& cli, Args args);  // also `container rm`
io::Task<int> cmd_wait(Cli& cli, Args args);
io::Task<int> cmd_rename(Cli& cli, Args args);
io::Task<int> cmd_container_prune(Cli& cli, Args args);
io::Task<int> cmd_container(Cli& cli, Args args);
// containers_io.cc: what reads out of a container, and inspect of any object.
io::Task<int> cmd_logs(Cli& cli, Args args);
io::Task<int> cmd_inspect(Cli& cli, Args args);
io::Task<int> cmd_container_inspect(Cli& cli, Args args);
io::Task<int> cmd_top(Cli& cli, Args args);
io::Task<int> cmd_commit(Cli& cli, Args args);
io::Task<int> cmd_export(Cli& cli, Args args);

// registry.cc: images to and from registries, and their credentials.
io::Task<int> cmd_pull(Cli& cli, Args args);  // also `image pull`
io::Task<int> cmd_push(Cli& cli, Args args);  // also `image push`
io::Task<int> cmd_login(Cli& cli, Args args);
io::Task<int> cmd_logout(Cli& cli, Args args);

}  // namespace berth::cli
