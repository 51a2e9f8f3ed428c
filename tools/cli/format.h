// Output the way the docker CLI writes it: sizes ("1.98MB"), ages
// ("2 hours ago"), times, short IDs, aligned tables and indented JSON.
// Pure functions of their inputs (the current time is passed in where it
// matters); thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace berth::cli {

// go-units HumanSizeWithPrecision: base 1000, precision significant digits
// (docker's image and history tables use 3, its HumanSize 4).
std::string human_size(double bytes, int precision);
// go-units HumanDuration: "Less than a second", "About a minute", "3 days".
std::string human_duration(double seconds);
// "2 hours ago" for a Unix time, relative to now (Unix seconds).
std::string time_ago(int64_t unix_seconds, double now);
double now_seconds();
// Go's time.Time.String() in local time: "2024-01-02 15:04:05 +0000 UTC".
std::string go_time_string(int64_t unix_seconds);
// RFC 3339 in local time: "2024-01-02T15:04:05Z" / "...+01:00".
std::string rfc3339_local(int64_t unix_seconds);

// docker's stringid.TruncateID: drops "sha256:", keeps 12 characters.
std::string short_id(std::string_view id);
// Cuts s to width characters, ending with "…" when cut.
std::string ellipsis(std::string_view s, size_t width);
// Go's error text for an errno ("no such file or directory").
std::string go_strerror(int err);

// Rows of cells aligned as docker's tabwriter (minimum width 10, padding 3):
// every column but the last is padded.
class Table {
 public:
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(FILE* out) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Go's json.Indent with an empty prefix: raw JSON text re-laid with one
// element per line; strings and numbers kept byte for byte, empty arrays and
// objects as [] and {}.
std::string indent_json(std::string_view raw, std::string_view indent);
// Go's json.Marshal look of raw JSON: no whitespace, and <, >, & escaped as
// \u003c, \u003e, \u0026 (HTML escaping, which docker's templates keep on).
std::string compact_json(std::string_view raw);

}  // namespace berth::cli
