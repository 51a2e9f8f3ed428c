// FlagSet: a verb's command-line flags, parsed as the docker CLI (cobra and
// pflag) parses them, with docker's messages and exit codes:
//   -a -q, -aq, -o FILE, -oFILE, --output FILE, --output=FILE, --all=false,
//   flags anywhere among the arguments, "--" ending the flags;
//   an unknown flag or a missing value: the message, the usage line, exit 125;
//   a wrong number of arguments: "berth: 'berth tag' requires 2 arguments",
//   the usage line, exit 1; -h/--help: the help on stdout, exit 0.
// Values land in the variables the flags were declared with. Plain value;
// not thread-safe.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "tools/cli/cli.h"

namespace berth::cli {

class FlagSet {
 public:
  // path: "berth images"; usage: what follows it ("[OPTIONS] [REPOSITORY[:TAG]]").
  FlagSet(std::string path, std::string usage, std::string summary);

  // short_name 0: none. The value name shows in the help ("-o, --output string").
  FlagSet& add_bool(char short_name, std::string long_name, bool* out, std::string help);
  FlagSet& add_string(char short_name, std::string long_name, std::string* out,
                      std::string value_name, std::string help);
  FlagSet& add_list(char short_name, std::string long_name, std::vector<std::string>* out,
                    std::string value_name, std::string help);

  // Parses args. nullopt to go on; else the exit code to end with (the
  // message is printed).
  std::optional<int> parse(const Args& args);
  const std::vector<std::string>& args() const { return positional_; }

  // Argument-count checks after parse(); nullopt when satisfied.
  std::optional<int> exact_args(size_t n) const;
  std::optional<int> min_args(size_t n) const;
  std::optional<int> max_args(size_t n) const;

  // A bad flag value found after parse(): message, usage line; returns 125.
  int usage_error(const std::string& message) const;

  void print_help(FILE* out) const;
  // "Usage:  berth tag SOURCE TARGET"
  std::string usage_line() const;
  const std::string& path() const { return path_; }

 private:
  enum class Kind { boolean, string, list };
  struct Flag {
    char short_name = 0;
    std::string long_name;
    Kind kind = Kind::boolean;
    void* out = nullptr;
    std::string value_name;
    std::string help;
  };
  const Flag* find_long(const std::string& name) const;
  const Flag* find_short(char c) const;
  // Stores value into the flag's variable; the error message otherwise.
  std::optional<std::string> set(const Flag& f, const std::string& value) const;
  int args_error(const std::string& what, const char* hint_verb) const;

  std::string path_, usage_, summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
};

}  // namespace berth::cli
