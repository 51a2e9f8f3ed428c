// Parts the container verbs share (run.cc, start.cc, containers.cc,
// containers_io.cc): flags that end at the first argument, the attach /
// wait / start sequence of run and start -a, the few inspect facts the verbs
// need, and the prompt of the prune verbs. Not thread-safe; CLI use only.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "tools/cli/cli.h"
#include "tools/cli/flags.h"

namespace berth::cli {

// A FlagSet whose flags end at the first argument, as docker's
// SetInterspersed(false): in `run IMAGE ls -l` the -l is the command's. With
// a flag whose shorthand is 'h' (run's --hostname) a lone -h means it, not
// help. Knows which flags were given (docker's flags.Changed).
class SplitFlags {
 public:
  SplitFlags(std::string path, std::string usage, std::string summary)
      : fs_(std::move(path), std::move(usage), std::move(summary)) {}

  SplitFlags& add_bool(char short_name, std::string long_name, bool* out, std::string help);
  SplitFlags& add_string(char short_name, std::string long_name, std::string* out,
                         std::string value_name, std::string help);
  SplitFlags& add_list(char short_name, std::string long_name, std::vector<std::string>* out,
                       std::string value_name, std::string help);

  // As FlagSet::parse; the arguments (first one on) are fs().args().
  std::optional<int> parse(const Args& args);
  bool changed(std::string_view long_name) const { return changed_.count(std::string(long_name)); }
  FlagSet& fs() { return fs_; }
  const FlagSet& fs() const { return fs_; }

 private:
  FlagSet fs_;
  std::set<std::string> value_long_;
  std::string value_short_;
  std::vector<std::pair<char, std::string>> names_;  // shorthand -> long name
  bool hostname_h_ = false;
  std::set<std::string> changed_;
};

// What run and start -a do once a container exists.
struct StartPlan {
  std::string id;
  bool tty = false;
  bool attach_stdin = false;   // copy the CLI's stdin in (-i)
  bool attach_output = false;  // stream stdout and stderr out (run without -d, start -a)
  bool auto_remove = false;    // wait for removal rather than the next exit
  bool sig_proxy = true;
  bool run = false;  // run's messages and exit codes (125/126/127), else start's
};

// Attaches (hijacked), puts the wait in place, starts, streams until the
// container's output ends and returns its exit code. Without output to
// attach (run -d), prints the ID and returns once it started.
io::Task<int> attach_start_wait(Cli& cli, StartPlan plan);

// docker's runStartContainerErr: the exit code of a run the daemon refused:
// 127 when the command is not found, 126 when it cannot be run, else 125.
int start_error_code(const std::string& message);

// What the verbs need to know of a container before they act.
struct ContainerFacts {
  std::string id;
  bool tty = false, open_stdin = false, auto_remove = false, running = false;
};
io::Task<Result<ContainerFacts>> inspect_facts(Cli& cli, std::string name);

// docker's PromptForConfirmation: the message, then "Are you sure you want to
// continue? [y/N] "; true for y/yes on stdin.
io::Task<bool> confirm_prompt(std::string message);

}  // namespace berth::cli
