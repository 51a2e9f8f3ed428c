#include "tools/cli/flags.h"

#include <algorithm>

#include "core/base/strings.h"

namespace berth::cli {

FlagSet::FlagSet(std::string path, std::string usage, std::string summary)
    : path_(std::move(path)), usage_(std::move(usage)), summary_(std::move(summary)) {}

FlagSet& FlagSet::add_bool(char short_name, std::string long_name, bool* out, std::string help) {
  flags_.push_back({short_name, std::move(long_name), Kind::boolean, out, "", std::move(help)});
  return *this;
}

FlagSet& FlagSet::add_string(char short_name, std::string long_name, std::string* out,
                             std::string value_name, std::string help) {
  flags_.push_back({short_name, std::move(long_name), Kind::string, out, std::move(value_name),
                    std::move(help)});
  return *this;
}

FlagSet& FlagSet::add_list(char short_name, std::string long_name, std::vector<std::string>* out,
                           std::string value_name, std::string help) {
  flags_.push_back({short_name, std::move(long_name), Kind::list, out, std::move(value_name),
                    std::move(help)});
  return *this;
}

const FlagSet::Flag* FlagSet::find_long(const std::string& name) const {
  for (const auto& f : flags_)
    if (f.long_name == name) return &f;
  return nullptr;
}

const FlagSet::Flag* FlagSet::find_short(char c) const {
  for (const auto& f : flags_)
    if (f.short_name == c) return &f;
  return nullptr;
}

// Go's strconv.ParseBool.
static std::optional<bool> parse_go_bool(const std::string& s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False")
    return false;
  return std::nullopt;
}

std::optional<std::string> FlagSet::set(const Flag& f, const std::string& value) const {
  switch (f.kind) {
    case Kind::boolean: {
      auto b = parse_go_bool(value);
      if (!b) {
        std::string name = f.short_name ? str_cat("-", f.short_name, ", --", f.long_name)
                                        : str_cat("--", f.long_name);
        return str_cat("invalid argument \"", value, "\" for \"", name,
                       "\" flag: strconv.ParseBool: parsing \"", value, "\": invalid syntax");
      }
      *static_cast<bool*>(f.out) = *b;
      return std::nullopt;
    }
    case Kind::string: *static_cast<std::string*>(f.out) = value; return std::nullopt;
    case Kind::list:
      static_cast<std::vector<std::string>*>(f.out)->push_back(value);
      return std::nullopt;
  }
  return std::nullopt;
}

std::string FlagSet::usage_line() const {
  return str_cat("Usage:  ", path_, usage_.empty() ? "" : " ", usage_);
}

int FlagSet::usage_error(const std::string& message) const {
  std::fprintf(stderr, "%s\n\n%s\n\nRun '%s --help' for more information\n", message.c_str(),
               usage_line().c_str(), path_.c_str());
  return 125;
}

int FlagSet::args_error(const std::string& what, const char* hint_verb) const {
  std::fprintf(stderr, "berth: '%s' %s\n\n%s\n\n%s '%s --help' for more information\n",
               path_.c_str(), what.c_str(), usage_line().c_str(), hint_verb, path_.c_str());
  return 1;
}

std::optional<int> FlagSet::parse(const Args& args) {
  positional_.clear();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      positional_.insert(positional_.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (a == "-h" || a == "--help") {
      print_help(stdout);
      return 0;
    }
    if (a.starts_with("--")) {
      std::string name = a.substr(2);
      std::optional<std::string> value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      const Flag* f = find_long(name);
      if (!f) return usage_error("unknown flag: --" + name);
      if (!value) {
        if (f->kind == Kind::boolean) {
          value = "true";
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return usage_error("flag needs an argument: --" + name);
        }
      }
      if (auto err = set(*f, *value)) return usage_error(*err);
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      // Shorthands: -aq, -oFILE, -o FILE, -o=FILE.
      for (size_t j = 1; j < a.size(); ++j) {
        const Flag* f = find_short(a[j]);
        if (!f) return usage_error(str_cat("unknown shorthand flag: '", a[j], "' in ", a));
        if (f->kind == Kind::boolean) {
          if (j + 1 < a.size() && a[j + 1] == '=') {
            if (auto err = set(*f, a.substr(j + 2))) return usage_error(*err);
            break;
          }
          set(*f, "true");
          continue;
        }
        std::string value;
        if (j + 1 < a.size()) {
          value = a.substr(a[j + 1] == '=' ? j + 2 : j + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return usage_error(str_cat("flag needs an argument: '", a[j], "' in -", a[j]));
        }
        if (auto err = set(*f, value)) return usage_error(*err);
        break;
      }
      continue;
    }
    positional_.push_back(a);
  }
  return std::nullopt;
}

static std::string plural(size_t n, const char* word) {
  return str_cat(n, " ", word, n == 1 ? "" : "s");
}

std::optional<int> FlagSet::exact_args(size_t n) const {
  if (positional_.size() == n) return std::nullopt;
  if (n == 0) return args_error("accepts no arguments", "Run");
  return args_error("requires " + plural(n, "argument"), "Run");
}

std::optional<int> FlagSet::min_args(size_t n) const {
  if (positional_.size() >= n) return std::nullopt;
  return args_error("requires at least " + plural(n, "argument"), "See");
}

std::optional<int> FlagSet::max_args(size_t n) const {
  if (positional_.size() <= n) return std::nullopt;
  if (n == 0) return args_error("accepts no arguments", "Run");
  return args_error("requires at most " + plural(n, "argument"), "Run");
}

void FlagSet::print_help(FILE* out) const {
  std::fprintf(out, "%s\n\n%s\n", usage_line().c_str(), summary_.c_str());
  std::vector<std::string> left;
  size_t width = 0;
  for (const auto& f : flags_) {
    std::string l = f.short_name ? str_cat("  -", f.short_name, ", --", f.long_name)
                                 : str_cat("      --", f.long_name);
    if (!f.value_name.empty()) l += " " + f.value_name;
    width = std::max(width, l.size());
    left.push_back(std::move(l));
  }
  left.push_back("  -h, --help");
  width = std::max(width, left.back().size());
  std::fprintf(out, "\nOptions:\n");
  for (size_t i = 0; i < left.size(); ++i) {
    const std::string& help = i < flags_.size() ? flags_[i].help : std::string("Print usage");
    // Continuation lines of a help text line up under its first line.
    std::string indented;
    for (char c : help) {
      indented.push_back(c);
      if (c == '\n') indented.append(width + 3, ' ');
    }
    std::fprintf(out, "%-*s   %s\n", static_cast<int>(width), left[i].c_str(), indented.c_str());
  }
}

}  // namespace berth::cli
