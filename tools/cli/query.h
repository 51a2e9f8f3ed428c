// Request targets for the API: escaped path parts, query strings and the
// filters JSON that list and prune endpoints take. Plain values;
// thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::cli {

// An object name as a path part: percent-encoded, '/' kept (image names
// carry it; the daemon's routes take it back whole).
std::string path_escape(std::string_view name);

// "?a=1&b=x%20y" built pair by pair; empty when nothing was added.
class Query {
 public:
  Query& add(std::string_view key, std::string_view value);
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

// {"dangling":{"true":true},"label":{"a=b":true}} from K=V arguments, in
// docker's map form. "bad format of filter (expected name=value)" for an
// argument without '='. Empty input gives "".
Result<std::string> filters_json(const std::vector<std::string>& filters);

}  // namespace berth::cli
