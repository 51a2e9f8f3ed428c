#include "core/container/log_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/base/strings.h"
#include "core/container/log_record.h"

namespace berth::core::container {

namespace {

// How far back from a torn end find_log_end looks for a record boundary
// before it falls back to reading the file from the start.
constexpr int64_t torn_search_window = 256 << 10;

uint32_t random_salt() {
  uint32_t salt = 0;
  if (::getrandom(&salt, sizeof salt, 0) != static_cast<ssize_t>(sizeof salt)) {
    // getrandom cannot fail for 4 bytes once the pool is ready; a fixed
    // salt still makes a valid file, only a weaker one.
    salt = 0x9e3779b9u ^ static_cast<uint32_t>(::getpid());
  }
  return salt;
}

Result<int64_t> scan_forward(int fd, uint32_t salt, int64_t size, uint64_t* bytes_read) {
  std::string buf;
  int64_t buf_off = static_cast<int64_t>(log_header_size);  // file offset of buf[0]
  size_t pos = 0;                                           // parse position in buf
  int64_t end = buf_off;
  for (;;) {
    LogRecord rec;
    size_t n = 0;
    LogDecode d = decode_log_record(std::string_view(buf).substr(pos), salt, &rec, &n);
    if (d == LogDecode::ok) {
      pos += n;
      end = buf_off + static_cast<int64_t>(pos);
      continue;
    }
    if (d == LogDecode::corrupt) return end;
    int64_t next = buf_off + static_cast<int64_t>(buf.size());
    if (next >= size) return end;
    buf.erase(0, pos);
    buf_off += static_cast<int64_t>(pos);
    pos = 0;
    size_t want = static_cast<size_t>(std::min<int64_t>(size - next, 1 << 20));
    size_t have = buf.size();
    buf.resize(have + want);
    size_t got = BERTH_TRY(pread_full(fd, buf.data() + have, want, next));
    buf.resize(have + got);
    if (bytes_read) *bytes_read += got;
    if (got == 0) return end;
  }
}

}  // namespace

std::string log_path(const std::string& dir, int index) {
  if (index == 0) return dir + "/log";
  return str_cat(dir, "/log.", index);
}

Result<std::vector<int>> list_rotated_logs(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return sys_fail(errno, "open log directory " + dir);
  std::vector<int> out;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (!name.starts_with("log.")) continue;
    auto k = parse_number<int>(name.substr(4));
    if (k && *k >= 1 && std::to_string(*k) == name.substr(4)) out.push_back(*k);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<NewLogFile> create_log_file(const std::string& dir, int open_flags) {
  std::string tmp = dir + "/log.new";
  std::string path = dir + "/log";
  NewLogFile f;
  f.salt = random_salt();
  {
    unique_fd w(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!w) return sys_fail(errno, "create " + tmp);
    std::string header = encode_log_header(f.salt);
    ssize_t n = ::write(w.get(), header.data(), header.size());
    if (n != static_cast<ssize_t>(header.size())) {
      int e = n < 0 ? errno : ENOSPC;
      ::unlink(tmp.c_str());
      return sys_fail(e, "write " + tmp);
    }
  }
  // Opened before the rename so that the fd is surely the new file even if
  // another rotation (there is none: one writer per directory) followed.
  f.fd = unique_fd(::open(tmp.c_str(), open_flags | O_CLOEXEC));
  if (!f.fd) return sys_fail(errno, "open " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return sys_fail(errno, "rename " + tmp);
  return f;
}

Result<uint32_t> read_log_header(int fd) {
  char buf[log_header_size];
  size_t n = BERTH_TRY(pread_full(fd, buf, sizeof buf, 0));
  uint32_t salt = 0;
  if (!decode_log_header(std::string_view(buf, n), &salt)) {
    return fail(Errc::corrupt, "not a berth log file (bad header)");
  }
  return salt;
}

Result<int64_t> find_log_end(int fd, uint32_t salt, int64_t size, uint64_t* bytes_read) {
  const auto lo = static_cast<int64_t>(log_header_size);
  if (size <= lo) return lo;
  // The usual case, a clean end: the back-length, then the record it gives.
  if (size - lo >= static_cast<int64_t>(log_record_overhead)) {
    char tail[4];
    size_t got = BERTH_TRY(pread_full(fd, tail, sizeof tail, size - 4));
    if (bytes_read) *bytes_read += got;
    uint32_t n = 0;
    for (int i = 3; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(tail[i]);
    auto total = static_cast<int64_t>(n) + static_cast<int64_t>(log_record_overhead);
    if (got == sizeof tail && n <= log_max_payload && total <= size - lo) {
      std::string rec(static_cast<size_t>(total), '\0');
      got = BERTH_TRY(pread_full(fd, rec.data(), rec.size(), size - total));
      if (bytes_read) *bytes_read += got;
      LogRecord r;
      size_t used = 0;
      if (got == rec.size() && decode_log_record_backward(rec, salt, &r, &used) == LogDecode::ok) {
        return size;
      }
    }
  }
  int64_t start = std::max(lo, size - torn_search_window);
  std::string buf(static_cast<size_t>(size - start), '\0');
  size_t got = BERTH_TRY(pread_full(fd, buf.data(), buf.size(), start));
  if (bytes_read) *bytes_read += got;
  buf.resize(got);
  size = start + static_cast<int64_t>(got);
  // Largest p at which a valid record ends. The salted CRC makes a false
  // boundary inside a payload as unlikely as a CRC collision.
  for (size_t p = buf.size(); p >= log_record_overhead; --p) {
    LogRecord rec;
    size_t n = 0;
    if (decode_log_record_backward(std::string_view(buf.data(), p), salt, &rec, &n) ==
        LogDecode::ok) {
      return start + static_cast<int64_t>(p);
    }
  }
  if (start == lo) return lo;
  return scan_forward(fd, salt, size, bytes_read);
}

Result<size_t> pread_full(int fd, char* buf, size_t len, int64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, buf + done, len - done, off + static_cast<int64_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail(errno, "read log file");
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace berth::core::container
