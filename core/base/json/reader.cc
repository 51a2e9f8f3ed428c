#include "core/base/json/reader.h"

#include "core/base/strings.h"

namespace berth::json {

namespace {
std::string_view type_name(od::value v) {
  od::json_type t;
  if (v.type().get(t) != simdjson::SUCCESS) return "invalid JSON";
  switch (t) {
    case od::json_type::array: return "array";
    case od::json_type::object: return "object";
    case od::json_type::number: return "number";
    case od::json_type::string: return "string";
    case od::json_type::boolean: return "boolean";
    case od::json_type::null: return "null";
  }
  return "unknown";
}
}  // namespace

Result<std::unique_ptr<Parsed>> parse(std::string_view body) {
  if (trim(body).empty())
    return fail(Errc::invalid_argument, "request body is empty, expected JSON");
  auto p = std::make_unique<Parsed>();
  p->text = simdjson::padded_string(body);
  if (auto err = p->parser.iterate(p->text).get(p->doc); err != simdjson::SUCCESS)
    return fail(Errc::invalid_argument, str_cat("invalid JSON: ", simdjson::error_message(err)));
  return p;
}

Error bad_field(std::string_view field, std::string_view what) {
  return Error{Errc::invalid_argument, 0, str_cat("invalid JSON: field ", field, ": ", what)};
}

bool is_null(od::value v) {
  bool n = false;
  return v.is_null().get(n) == simdjson::SUCCESS && n;
}

Result<std::string> get_string(od::value v, std::string_view field) {
  if (is_null(v)) return std::string();
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS)
    return std::unexpected(bad_field(field, str_cat("expected a string, got ", type_name(v))));
  return std::string(s);
}

Result<int64_t> get_int(od::value v, std::string_view field) {
  if (is_null(v)) return 0;
  int64_t i;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return i;
  // Go accepts 1e3 for an int only if exact; accept integral doubles.
  double d;
  if (v.get_double().get(d) == simdjson::SUCCESS &&
      d == static_cast<double>(static_cast<int64_t>(d)))
    return static_cast<int64_t>(d);
  return std::unexpected(bad_field(field, str_cat("expected an integer, got ", type_name(v))));
}

Result<uint64_t> get_uint(od::value v, std::string_view field) {
  if (is_null(v)) return 0;
  uint64_t u;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) return u;
  return std::unexpected(
      bad_field(field, str_cat("expected a non-negative integer, got ", type_name(v))));
}

Result<double> get_double(od::value v, std::string_view field) {
  if (is_null(v)) return 0.0;
  double d;
  if (v.get_double().get(d) == simdjson::SUCCESS) return d;
  return std::unexpected(bad_field(field, str_cat("expected a number, got ", type_name(v))));
}

Result<bool> get_bool(od::value v, std::string_view field) {
  if (is_null(v)) return false;
  bool b;
  if (v.get_bool().get(b) == simdjson::SUCCESS) return b;
  return std::unexpected(bad_field(field, str_cat("expected true or false, got ", type_name(v))));
}

Result<std::vector<std::string>> get_string_array(od::value v, std::string_view field) {
  std::vector<std::string> out;
  if (is_null(v)) return out;
  od::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS)
    return std::unexpected(
        bad_field(field, str_cat("expected an array of strings, got ", type_name(v))));
  for (auto el : arr) {
    od::value item;
    if (el.get(item) != simdjson::SUCCESS)
      return std::unexpected(bad_field(field, "invalid element"));
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS)
      return std::unexpected(bad_field(field, "expected an array of strings"));
    out.emplace_back(s);
  }
  return out;
}

Result<std::map<std::string, std::string>> get_string_map(od::value v, std::string_view field) {
  std::map<std::string, std::string> out;
  if (is_null(v)) return out;
  auto r = for_each_field(v, field, [&](std::string_view k, od::value val) -> Result<void> {
    auto s = get_string(val, str_cat(field, ".", k));
    if (!s) return std::unexpected(s.error());
    out[std::string(k)] = std::move(*s);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::string> get_raw(od::value v, std::string_view field) {
  std::string_view raw;
  if (simdjson::to_json_string(v).get(raw) != simdjson::SUCCESS)
    return std::unexpected(bad_field(field, "invalid JSON value"));
  return std::string(raw);
}

}  // namespace berth::json
