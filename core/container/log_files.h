// The files of a container log directory (layout in log_record.h): their
// names, creation with a header, and finding where the whole records of a
// file end. Shared by LogWriter and LogReader.
//
// Every call blocks on the file system; thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/unique_fd.h"

namespace berth::core::container {

// DIR/log for index 0, DIR/log.K for index K.
std::string log_path(const std::string& dir, int index);

// The K of every DIR/log.K present (K >= 1), ascending.
Result<std::vector<int>> list_rotated_logs(const std::string& dir);

// Creates DIR/log.new with a fresh header and a random salt, and renames it
// onto DIR/log (replacing any file there). Returns the new file opened with
// open_flags (e.g. O_WRONLY | O_APPEND) and its salt.
struct NewLogFile {
  unique_fd fd;
  uint32_t salt = 0;
};
Result<NewLogFile> create_log_file(const std::string& dir, int open_flags);

// Reads the header of an open log file: its salt. corrupt if the file does
// not start with a valid header.
Result<uint32_t> read_log_header(int fd);

// The offset just past the last whole record of the file's first `size`
// bytes: `size` itself unless the end is torn (a crash) or a write is in
// progress. Reads backwards from the end, a little beyond one record when
// the end is torn; reads the file from the start only if that finds
// nothing. bytes_read (optional) accumulates what was read.
Result<int64_t> find_log_end(int fd, uint32_t salt, int64_t size, uint64_t* bytes_read = nullptr);

// Reads exactly len bytes at off, or fewer at end of file.
Result<size_t> pread_full(int fd, char* buf, size_t len, int64_t off);

}  // namespace berth::core::container
