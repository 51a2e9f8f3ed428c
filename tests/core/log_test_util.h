// Helpers shared by the container log tests: reading a whole log with a
// LogReader, joining a stream's bytes, and file surgery for crash tests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/container/log_format.h"
#include "core/container/log_reader.h"
#include "core/container/log_writer.h"

namespace berth::core::container::testing {

// 2026-11-30T15:50:26.123456789Z
inline constexpr int64_t t0 = 1796053826123456789;

// Reads everything a non-following reader gives (fails the test on error).
inline std::vector<LogMessage> read_all(const std::string& dir, LogReadOptions opts = {},
                                        LogReader::Stats* stats = nullptr) {
  std::vector<LogMessage> out;
  auto r = LogReader::open(dir, opts);
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return out;
  }
  for (;;) {
    auto st = (*r)->next(out, LogReader::Clock::now(), 64 << 10);
    if (!st) {
      ADD_FAILURE() << st.error().message;
      break;
    }
    if (*st == LogReadStatus::end) break;
    if (*st == LogReadStatus::idle) {
      ADD_FAILURE() << "idle without follow";
      break;
    }
  }
  if (stats) *stats = (*r)->stats();
  return out;
}

// The bytes of one stream's messages, concatenated.
inline std::string joined(const std::vector<LogMessage>& ms, LogStream s) {
  std::string out;
  for (const auto& m : ms) {
    if (m.stream == s) out += m.bytes;
  }
  return out;
}

inline std::string formatted(const std::vector<LogMessage>& ms, LogFormat f = {}) {
  std::string out;
  append_log_messages(out, ms, f);
  return out;
}

inline int64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

inline void truncate_file(const std::string& path, int64_t size) {
  ASSERT_EQ(::truncate(path.c_str(), size), 0) << path;
}

inline void append_bytes(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

inline std::string read_file(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CREAT, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

}  // namespace berth::core::container::testing
