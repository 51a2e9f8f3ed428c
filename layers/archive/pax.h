// PAX extended header records ("%d %s=%s\n", the length counting itself) and
// the encodings their values use: decimal numbers, times with sub-second
// fractions, and libarchive's base64 values and %-escaped xattr names.
// Shared by the reader and the writer.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "layers/archive/entry.h"

namespace berth::layers::archive::pax {

inline constexpr std::string_view kSchilyXattr = "SCHILY.xattr.";
inline constexpr std::string_view kLibarchiveXattr = "LIBARCHIVE.xattr.";

// Splits the first record off data. Fails (with a message naming the
// problem, not the entry) when the length field is malformed, points past the
// end of data, or the record lacks its '=' or closing newline.
struct Record {
  std::string_view key;
  std::string_view value;
};
Result<Record> next_record(std::string_view& data);

// Appends one record; the length prefix is computed as Go's archive/tar does.
void append_record(std::string& out, std::string_view key, std::string_view value);

// Non-negative decimal without sign or junk; nullopt otherwise.
std::optional<uint64_t> parse_uint(std::string_view s);
// "[-]SECONDS[.FRACTION]": fraction digits beyond nanoseconds are truncated;
// negative times are normalized so that nsec stays in [0, 1e9).
std::optional<Timestamp> parse_time(std::string_view s);
// The inverse, trailing zeros of the fraction trimmed (Go's formatPAXTime).
std::string format_time(Timestamp t);

// Standard base64, padding optional. nullopt on bad characters.
std::optional<std::string> base64_decode(std::string_view s);
// Decodes %XX escapes (libarchive's xattr names); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace berth::layers::archive::pax
