#include "tools/cli/query.h"

#include <map>
#include <set>

#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "io/http/message.h"

namespace berth::cli {

std::string path_escape(std::string_view name) {
  std::string out;
  bool first = true;
  for (auto part : split(name, '/')) {
    if (!first) out.push_back('/');
    first = false;
    out += io::http::percent_encode(part);
  }
  return out;
}

Query& Query::add(std::string_view key, std::string_view value) {
  text_.push_back(text_.empty() ? '?' : '&');
  text_ += io::http::percent_encode(key);
  text_.push_back('=');
  text_ += io::http::percent_encode(value);
  return *this;
}

Result<std::string> filters_json(const std::vector<std::string>& filters) {
  if (filters.empty()) return std::string();
  std::map<std::string, std::set<std::string>> by_key;
  for (const auto& f : filters) {
    auto kv = split_once(f, '=');
    if (!kv) return fail(Errc::invalid_argument, "bad format of filter (expected name=value)");
    by_key[to_lower(trim(kv->first))].insert(std::string(trim(kv->second)));
  }
  std::string out;
  json::Writer w(out);
  w.begin_object();
  for (const auto& [k, values] : by_key) {
    w.key(k).begin_object();
    for (const auto& v : values) w.kv(v, true);
    w.end_object();
  }
  w.end_object();
  return out;
}

}  // namespace berth::cli
