#include "tools/cli/template.h"

#include <algorithm>

#include "core/base/json/reader.h"
#include "core/base/strings.h"
#include "tools/cli/format.h"

namespace berth::cli {

namespace {

// docker's formatter turns the two-character escapes \t and \n into the
// characters.
std::string expand_backslash_escapes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == 't' || s[i + 1] == 'n')) {
      out.push_back(s[i + 1] == 't' ? '\t' : '\n');
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

Error parse_error(std::string_view what) {
  return Error{Errc::invalid_argument, 0, str_cat("template parsing error: template: :1: ", what)};
}

Result<std::vector<std::string>> parse_field(std::string_view word) {
  if (word.empty() || word[0] != '.')
    return std::unexpected(parse_error(str_cat("function \"", word, "\" not defined")));
  std::vector<std::string> path;
  if (word == ".") return path;
  for (auto part : split(word.substr(1), '.')) {
    if (part.empty()) return std::unexpected(parse_error(str_cat("bad field in \"", word, "\"")));
    path.emplace_back(part);
  }
  return path;
}

}  // namespace

Result<Template> Template::parse(std::string_view text, bool expand_escapes) {
  Template t;
  std::string s(text);
  if (expand_escapes) {
    if (s.starts_with("table")) {
      t.table_ = true;
      s.erase(0, 5);
    }
    size_t b = s.find_first_not_of(' ');
    s = b == std::string::npos ? std::string() : s.substr(b, s.find_last_not_of(' ') - b + 1);
    s = expand_backslash_escapes(s);
  }
  size_t pos = 0;
  bool trim_next = false;
  while (pos <= s.size()) {
    size_t open = s.find("{{", pos);
    std::string lit = s.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (trim_next) {
      size_t b = 0;
      while (b < lit.size() && is_space(lit[b])) ++b;
      lit.erase(0, b);
    }
    if (open == std::string::npos) {
      if (!lit.empty()) t.parts_.push_back({false, std::move(lit), {}});
      break;
    }
    size_t close = s.find("}}", open + 2);
    if (close == std::string::npos) return std::unexpected(parse_error("unclosed action"));
    std::string_view inner = std::string_view(s).substr(open + 2, close - open - 2);
    if (inner.size() >= 2 && inner[0] == '-' && is_space(inner[1])) {
      while (!lit.empty() && is_space(lit.back())) lit.pop_back();
      inner.remove_prefix(1);
    }
    trim_next = false;
    if (inner.size() >= 2 && inner.back() == '-' && is_space(inner[inner.size() - 2])) {
      trim_next = true;
      inner.remove_suffix(1);
    }
    if (!lit.empty()) t.parts_.push_back({false, std::move(lit), {}});
    std::vector<std::string_view> words;
    for (auto w : split(trim(inner), ' '))
      if (!w.empty()) words.push_back(w);
    if (words.empty()) return std::unexpected(parse_error("missing value for command"));
    Part part;
    part.is_action = true;
    if (words[0] == "json") {
      if (words.size() != 2)
        return std::unexpected(parse_error("wrong number of args for json: want 1"));
      part.action.json = true;
      part.action.path = BERTH_TRY(parse_field(words[1]));
    } else {
      if (words.size() != 1)
        return std::unexpected(parse_error(str_cat("function \"", words[0], "\" not defined")));
      part.action.path = BERTH_TRY(parse_field(words[0]));
    }
    t.parts_.push_back(std::move(part));
    pos = close + 2;
  }
  return t;
}

Result<std::string> Template::render(const TemplateResolver& resolve) const {
  std::string out;
  for (const auto& p : parts_) {
    if (!p.is_action) {
      out += p.text;
      continue;
    }
    out += BERTH_TRY(resolve(p.action));
  }
  return out;
}

namespace {

// A value printed as Go's fmt prints the interface{} values of a decoded map.
Result<std::string> go_print(json::od::value v) {
  json::od::json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) return fail(Errc::corrupt, "invalid JSON");
  switch (type) {
    case json::od::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) return fail(Errc::corrupt, "invalid JSON");
      return std::string(s);
    }
    case json::od::json_type::number:
    case json::od::json_type::boolean: return std::string(trim(v.raw_json_token()));
    case json::od::json_type::null: return std::string("<nil>");  // see go_print_null
    case json::od::json_type::array: {
      json::od::array a;
      if (v.get_array().get(a) != simdjson::SUCCESS) return fail(Errc::corrupt, "invalid JSON");
      std::vector<std::string> items;
      for (auto e : a) {
        json::od::value ev;
        if (e.get(ev) != simdjson::SUCCESS) return fail(Errc::corrupt, "invalid JSON");
        items.push_back(BERTH_TRY(go_print(ev)));
      }
      return str_cat("[", join(items, " "), "]");
    }
    case json::od::json_type::object: {
      std::vector<std::pair<std::string, std::string>> items;
      BERTH_TRY(json::for_each_field(v, "", [&](std::string_view k, json::od::value fv) {
        auto s = go_print(fv);
        if (!s) return Result<void>(std::unexpected(s.error()));
        items.emplace_back(std::string(k), std::move(*s));
        return Result<void>{};
      }));
      std::sort(items.begin(), items.end());
      std::vector<std::string> parts;
      for (auto& [k, s] : items) parts.push_back(k + ":" + s);
      return str_cat("map[", join(parts, " "), "]");
    }
  }
  return std::string();
}

std::string pointer_of(const std::vector<std::string>& path) {
  std::string p;
  for (const auto& part : path) {
    p.push_back('/');
    for (char c : part) {
      if (c == '~')
        p += "~0";
      else if (c == '/')
        p += "~1";
      else
        p.push_back(c);
    }
  }
  return p;
}

// A null field prints as its Go type's zero value would: docker decodes
// inspect output into typed structs, where a null slice prints "[]", a map
// "map[]" and only a pointer "<nil>".
std::string go_print_null(const std::vector<std::string>& path) {
  static const char* maps[] = {"Labels", "Volumes", "ExposedPorts", "Data", "Options"};
  static const char* pointers[] = {"Config",   "ContainerConfig", "Healthcheck",
                                   "Metadata", "GraphDriver",     "RootFS"};
  if (path.empty()) return "<nil>";
  for (const char* m : maps)
    if (path.back() == m) return "map[]";
  for (const char* p : pointers)
    if (path.back() == p) return "<nil>";
  return "[]";
}

Result<std::string> resolve_json(const std::string& doc, const TemplateAction& a) {
  auto parsed = BERTH_TRY(json::parse(doc));
  json::od::value v;
  simdjson::error_code ec;
  if (a.path.empty())
    ec = parsed->doc.get_value().get(v);
  else
    ec = parsed->doc.at_pointer(pointer_of(a.path)).get(v);
  if (ec == simdjson::NO_SUCH_FIELD) return std::string(a.json ? "null" : "<no value>");
  if (ec != simdjson::SUCCESS) {
    return fail(Errc::invalid_argument,
                str_cat("template: :1: executing \"\" at <.", join(a.path, "."),
                        ">: can't evaluate field ", a.path.back()));
  }
  if (a.json) {
    auto raw = BERTH_TRY(json::get_raw(v, join(a.path, ".")));
    return compact_json(raw);
  }
  if (json::is_null(v)) return go_print_null(a.path);
  return go_print(v);
}

}  // namespace

TemplateResolver json_resolver(const std::string& doc) {
  return [doc](const TemplateAction& a) { return resolve_json(doc, a); };
}

}  // namespace berth::cli
