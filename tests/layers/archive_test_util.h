// Helpers for the archive tests: a TarSink that records what it is told,
// parsing with arbitrary feed splits, and files read and written whole.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "layers/archive/tar_reader.h"
#include "layers/archive/tar_writer.h"

namespace berth::layers::archive::testing {

struct Member {
  Entry entry;
  std::string data;
  uint64_t hole_bytes = 0;  // bytes delivered through on_hole
  bool ended = false;
};

class RecordingSink : public TarSink {
 public:
  std::vector<Member> members;
  bool record_holes = false;  // true: on_hole is counted, not expanded

  Result<void> on_entry(const Entry& e) override {
    if (!members.empty() && !members.back().ended)
      return fail(Errc::internal, "on_entry before on_entry_end");
    members.push_back({e, {}, 0, false});
    return {};
  }
  Result<void> on_data(std::string_view d) override {
    if (members.empty() || members.back().ended) return fail(Errc::internal, "stray on_data");
    if (d.empty()) return fail(Errc::internal, "empty on_data");
    members.back().data.append(d);
    return {};
  }
  Result<void> on_hole(uint64_t n) override {
    if (!record_holes) return TarSink::on_hole(n);
    members.back().hole_bytes += n;
    members.back().data.append(n, '\0');
    return {};
  }
  Result<void> on_entry_end() override {
    if (members.empty() || members.back().ended) return fail(Errc::internal, "stray end");
    if (members.back().data.size() != members.back().entry.size)
      return fail(Errc::internal, "size mismatch");
    members.back().ended = true;
    return {};
  }
};

// Parses data fed in pieces of `step` bytes (0: all at once).
inline Result<std::vector<Member>> parse(std::string_view data, size_t step = 0,
                                         TarLimits limits = {}) {
  RecordingSink sink;
  TarReader reader(sink, limits);
  if (step == 0) step = data.size() ? data.size() : 1;
  for (size_t i = 0; i < data.size(); i += step) {
    auto r = reader.feed(data.substr(i, step));
    if (!r) return std::unexpected(r.error());
  }
  auto r = reader.finish();
  if (!r) return std::unexpected(r.error());
  return sink.members;
}

inline std::string error_of(std::string_view data, size_t step = 0, TarLimits limits = {}) {
  auto r = parse(data, step, limits);
  if (r) return "(no error)";
  return r.error().message;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, std::string_view data) {
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline Entry file_entry(std::string path, uint64_t size, uint32_t mode = 0644) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::regular;
  e.size = size;
  e.mode = mode;
  e.mtime = {1700000000, 0};
  return e;
}

// Writes entries (content for regular files from the paired strings).
inline std::string write_tar(const std::vector<std::pair<Entry, std::string>>& entries,
                             TarWriterOptions opts = {}) {
  std::string out;
  TarWriter w(
      [&](std::string_view b) -> Result<void> {
        out.append(b);
        return {};
      },
      opts);
  for (const auto& [e, content] : entries) {
    auto r = w.add_file(e, content);
    EXPECT_TRUE(r) << r.error().message;
  }
  EXPECT_TRUE(w.finish());
  return out;
}

}  // namespace berth::layers::archive::testing

namespace berth::layers::archive::testing {

// A hand-made header block, for dialects the writer does not produce and for
// hostile input. str() fills in the checksum unless told not to.
struct RawHeader {
  char b[512] = {};

  explicit RawHeader(std::string_view name, char type = '0', uint64_t size = 0) {
    put(0, name.substr(0, 100));
    octal(100, 8, 0644);
    octal(108, 8, 1000);
    octal(116, 8, 1000);
    octal(124, 12, size);
    octal(136, 12, 1700000000);
    b[156] = type;
    put(257, std::string_view("ustar\0"
                              "00",
                              8));
  }
  RawHeader& put(size_t off, std::string_view bytes) {
    std::memcpy(b + off, bytes.data(), bytes.size());
    return *this;
  }
  RawHeader& fill(size_t off, size_t len, char c) {
    std::memset(b + off, c, len);
    return *this;
  }
  RawHeader& octal(size_t off, size_t width, uint64_t v) {
    for (size_t i = width - 1; i-- > 0;) {
      b[off + i] = static_cast<char>('0' + (v & 7));
      v >>= 3;
    }
    b[off + width - 1] = '\0';
    return *this;
  }
  // GNU base-256: 0x80, then the value big-endian.
  RawHeader& base256(size_t off, size_t width, uint64_t v) {
    std::memset(b + off, 0, width);
    b[off] = static_cast<char>(0x80);
    for (size_t i = width; i-- > 1 && v;) {
      b[off + i] = static_cast<char>(v & 0xff);
      v >>= 8;
    }
    return *this;
  }
  RawHeader& gnu_magic() { return put(257, std::string_view("ustar  \0", 8)); }
  std::string str(bool checksum = true) const {
    std::string s(b, 512);
    if (checksum) {
      std::memset(s.data() + 148, ' ', 8);
      unsigned sum = 0;
      for (unsigned char c : s) sum += c;
      char buf[8];
      std::snprintf(buf, sizeof buf, "%06o", sum);
      std::memcpy(s.data() + 148, buf, 6);
      s[154] = '\0';
      s[155] = ' ';
    }
    return s;
  }
};

inline std::string padded(std::string_view data) {
  std::string s(data);
  s.resize((s.size() + 511) / 512 * 512, '\0');
  return s;
}

inline std::string pax_record(std::string_view key, std::string_view value) {
  std::string rec = std::string(key) + "=" + std::string(value) + "\n";
  size_t len = rec.size() + 2;
  while (std::to_string(len).size() + 1 + rec.size() != len) ++len;
  return std::to_string(len) + " " + rec;
}

// An 'x' (or 'g') header with its records, padded.
inline std::string pax_header(std::string_view records, char type = 'x') {
  return RawHeader("PaxHeaders.0/x", type, records.size()).str() + padded(records);
}

inline const std::string kEndBlocks(1024, '\0');

}  // namespace berth::layers::archive::testing
