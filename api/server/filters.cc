#include "api/server/filters.h"

#include <fnmatch.h>

#include "core/base/json/reader.h"
#include "core/base/strings.h"

namespace berth::api {

namespace js = berth::json;

Result<Filters> Filters::parse(std::string_view text) {
  Filters out;
  if (trim(text).empty()) return out;
  auto p = js::parse(text);
  if (!p) return fail(Errc::invalid_argument, "invalid filter: " + p.error().message);
  auto r = js::for_each_root_field(**p, [&](std::string_view k, js::od::value v) -> Result<void> {
    auto& vals = out.f_[std::string(k)];
    js::od::json_type t;
    if (v.type().get(t) != simdjson::SUCCESS) return fail(Errc::invalid_argument, "invalid filter");
    if (t == js::od::json_type::array) {
      vals = BERTH_TRY(js::get_string_array(v, k));
      return {};
    }
    return js::for_each_field(v, k, [&](std::string_view val, js::od::value b) -> Result<void> {
      bool on = BERTH_TRY(js::get_bool(b, k));
      if (on) vals.emplace_back(val);
      return {};
    });
  });
  if (!r) return fail(Errc::invalid_argument, "invalid filter: " + r.error().message);
  return out;
}

Result<void> Filters::only(std::initializer_list<std::string_view> allowed) const {
  for (const auto& [k, v] : f_) {
    bool ok = false;
    for (auto a : allowed) ok = ok || a == k;
    if (!ok) return fail(Errc::invalid_argument, str_cat("invalid filter '", k, "'"));
  }
  return {};
}

const std::vector<std::string>& Filters::get(std::string_view key) const {
  static const std::vector<std::string> none;
  auto it = f_.find(std::string(key));
  return it == f_.end() ? none : it->second;
}

bool Filters::match_labels(std::string_view key,
                           const std::map<std::string, std::string>& labels) const {
  for (const auto& want : get(key)) {
    auto kv = split_once(want, '=');
    if (!kv) {
      if (!labels.count(want)) return false;
      continue;
    }
    auto it = labels.find(std::string(kv->first));
    if (it == labels.end() || it->second != kv->second) return false;
  }
  return true;
}

Result<std::optional<bool>> Filters::get_bool(std::string_view key) const {
  const auto& v = get(key);
  if (v.empty()) return std::optional<bool>();
  if (v.size() > 1)
    return fail(Errc::invalid_argument, str_cat("invalid filter '", key, "': more than one value"));
  std::string s = to_lower(v[0]);
  if (s == "true" || s == "1") return std::optional<bool>(true);
  if (s == "false" || s == "0") return std::optional<bool>(false);
  return fail(Errc::invalid_argument,
              str_cat("invalid filter '", key, "=", v[0], "': expected true or false"));
}

bool glob_match(std::string_view pattern, std::string_view s) {
  std::string p(pattern), str(s);
  return ::fnmatch(p.c_str(), str.c_str(), FNM_PATHNAME) == 0;
}

}  // namespace berth::api
