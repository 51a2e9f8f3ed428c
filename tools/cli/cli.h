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

// Verbs, one file per family.
io::Task<int> cmd_version(Cli& cli, Args args);
io::Task<int> cmd_info(Cli& cli, Args args);

}  // namespace berth::cli
