// Template: the part of Go's text/template that docker's --format flags are
// used with: literal text with {{.Field}}, {{.A.B}}, {{.}}, {{json .X}},
// {{json .}}, and the {{- -}} trim markers. Values come from a resolver;
// json_resolver() resolves against a JSON document (inspect output), so any
// field of it works. A leading "table " asks for a table (callers render the
// header row with field names); "\t" and "\n" in the text become tab and
// newline as docker's formatter does.
//
// Plain value; thread-compatible.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::cli {

struct TemplateAction {
  std::vector<std::string> path;  // {{.A.B}} -> {"A", "B"}; {{.}} -> {}
  bool json = false;              // {{json ...}}
};

// What an action yields, or an Error ending the output.
using TemplateResolver = std::function<Result<std::string>(const TemplateAction&)>;

class Template {
 public:
  // Errors read as docker's: "template parsing error: ...".
  static Result<Template> parse(std::string_view text, bool expand_escapes);

  bool table() const { return table_; }
  Result<std::string> render(const TemplateResolver& resolve) const;

 private:
  struct Part {
    bool is_action = false;
    std::string text;
    TemplateAction action;
  };
  std::vector<Part> parts_;
  bool table_ = false;
};

// Resolves actions against the JSON text doc: a path names nested object
// fields (exact case); plain values print as Go prints them (strings bare,
// arrays as [a b], objects as map[k:v], a null field as the zero value of
// its type in docker's inspect structs: [] for lists, map[] for maps, <nil>
// for objects), json ones as compact JSON. A missing field prints
// "<no value>" as Go does for maps.
TemplateResolver json_resolver(const std::string& doc);

}  // namespace berth::cli
