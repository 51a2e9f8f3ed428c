// The `filters` query parameter of list and prune endpoints: JSON of the
// form {"key": {"value": true}} (or the legacy {"key": ["value"]}), parsed
// into key -> values, with the checks docker does ("invalid filter 'x'").
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::api {

class Filters {
 public:
  static Result<Filters> parse(std::string_view json);
  // Fails naming the first key not in allowed.
  Result<void> only(std::initializer_list<std::string_view> allowed) const;
  bool has(std::string_view key) const { return f_.count(std::string(key)) > 0; }
  const std::vector<std::string>& get(std::string_view key) const;
  // label filters: "k" (present) or "k=v"; all must match.
  bool match_labels(std::string_view key, const std::map<std::string, std::string>& labels) const;
  // Docker's boolean filters ("dangling=true"): nullopt when absent.
  Result<std::optional<bool>> get_bool(std::string_view key) const;
  bool empty() const { return f_.empty(); }

 private:
  std::map<std::string, std::vector<std::string>> f_;
};

// Shell-style glob match ('*', '?', '[...]'), as Go's path.Match.
bool glob_match(std::string_view pattern, std::string_view s);

}  // namespace berth::api
