#include "core/container/log_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/container/log_files.h"
#include "io/pool.h"
#include "io/reactor.h"

namespace berth::core::container {

namespace {

Result<void> write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail(errno, "write " + what);
    }
    if (n == 0) return sys_fail(ENOSPC, "write " + what);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<void> rename_if_present(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
    return sys_fail(errno, "rename " + from);
  }
  return {};
}

size_t stream_index(LogStream s) {
  auto i = static_cast<size_t>(s);
  return i < 3 ? i : 1;
}

}  // namespace

int64_t log_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Result<LogWriter> LogWriter::open(std::string dir, LogWriterOptions opts) {
  if (opts.max_files < 1) opts.max_files = 1;
  if (opts.max_size < 0) opts.max_size = 0;
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return sys_fail(errno, "create log directory " + dir);
  }
  std::string tmp = dir + "/log.new";
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return sys_fail(errno, "remove " + tmp);
  auto rotated = BERTH_TRY(list_rotated_logs(dir));
  for (int k : rotated) {
    if (k < opts.max_files) continue;
    std::string p = log_path(dir, k);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return sys_fail(errno, "remove " + p);
  }

  LogWriter w;
  w.dir_ = std::move(dir);
  w.opts_ = opts;
  std::string path = log_path(w.dir_, 0);
  const int flags = O_RDWR | O_APPEND;
  w.fd_ = unique_fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!w.fd_ && errno != ENOENT) return sys_fail(errno, "open " + path);
  if (w.fd_) {
    auto salt = read_log_header(w.fd_.get());
    if (!salt) {
      // Not a log of ours (or a header lost to a crash): keep it aside for
      // whoever wants to look, and start a new file.
      w.fd_.reset();
      BERTH_TRY(rename_if_present(path, w.dir_ + "/log.corrupt"));
    } else {
      w.salt_ = *salt;
      struct stat st {};
      if (::fstat(w.fd_.get(), &st) != 0) return sys_fail(errno, "stat " + path);
      int64_t end = BERTH_TRY(find_log_end(w.fd_.get(), w.salt_, st.st_size));
      if (end < st.st_size && ::ftruncate(w.fd_.get(), end) != 0) {
        return sys_fail(errno, "truncate torn record of " + path);
      }
      w.size_ = end;
    }
  }
  if (!w.fd_) {
    auto f = BERTH_TRY(create_log_file(w.dir_, flags));
    w.fd_ = std::move(f.fd);
    w.salt_ = f.salt;
    w.size_ = static_cast<int64_t>(log_header_size);
  }
  return w;
}

LogWriter::Encoded LogWriter::encode(LogStream stream, int64_t time_ns, std::string_view chunk,
                                     std::string& out) {
  Encoded e;
  size_t& line_len = line_len_[stream_index(stream)];
  while (e.consumed < chunk.size()) {
    std::string_view rest = chunk.substr(e.consumed);
    // Docker's copier: a line that fills its 16 KiB buffer without a
    // newline is emitted as a piece, and the line goes on in a new buffer.
    size_t room = log_piece_size - line_len;
    const void* nl = std::memchr(rest.data(), '\n', std::min(rest.size(), room));
    size_t len;
    uint8_t flags;
    if (nl) {
      len = static_cast<size_t>(static_cast<const char*>(nl) - rest.data()) + 1;
      flags = 0;
    } else if (rest.size() >= room) {
      len = room;
      flags = log_flag_partial | log_flag_split;
    } else {
      len = rest.size();
      flags = log_flag_partial;
    }
    auto record = static_cast<int64_t>(len + log_record_overhead);
    int64_t used = size_ + reserved_;
    if (opts_.max_size > 0 && used > static_cast<int64_t>(log_header_size) &&
        used + record > opts_.max_size) {
      e.rotate = true;
      break;
    }
    encode_log_record(out, salt_, time_ns, stream, flags, rest.substr(0, len));
    reserved_ += record;
    line_len = flags == log_flag_partial ? line_len + len : 0;
    open_line_[stream_index(stream)] = (flags & log_flag_partial) != 0;
    e.consumed += len;
  }
  return e;
}

void LogWriter::commit(size_t n) {
  size_ += static_cast<int64_t>(n);
  reserved_ = std::max<int64_t>(0, reserved_ - static_cast<int64_t>(n));
}

Result<void> LogWriter::repair() {
  reserved_ = 0;
  if (::ftruncate(fd_.get(), size_) != 0) return sys_fail(errno, "truncate log " + dir_);
  return {};
}

Result<void> LogWriter::rotate() {
  if (reserved_ != 0) {
    return fail(Errc::internal, "rotate log " + dir_ + ": encoded records not committed");
  }
  for (int k = opts_.max_files - 1; k >= 2; --k) {
    BERTH_TRY(rename_if_present(log_path(dir_, k - 1), log_path(dir_, k)));
  }
  if (opts_.max_files >= 2) BERTH_TRY(rename_if_present(log_path(dir_, 0), log_path(dir_, 1)));
  // With max_files 1 the rename of the new file onto log drops the old one;
  // a reader holding it open still reads it to its end.
  auto f = BERTH_TRY(create_log_file(dir_, O_RDWR | O_APPEND));
  fd_ = std::move(f.fd);
  salt_ = f.salt;
  size_ = static_cast<int64_t>(log_header_size);
  return {};
}

LogWriter::Encoded LogWriter::encode_end(LogStream stream, int64_t time_ns, std::string& out) {
  size_t i = stream_index(stream);
  Encoded e;
  if (!open_line_[i]) return e;
  auto record = static_cast<int64_t>(log_record_overhead);
  int64_t used = size_ + reserved_;
  if (opts_.max_size > 0 && used > static_cast<int64_t>(log_header_size) &&
      used + record > opts_.max_size) {
    e.rotate = true;
    return e;
  }
  // Split as well when there are bytes since the line's last cut: the
  // marker then ends a message, and readers count it as one walking back.
  uint8_t flags = log_flag_partial | log_flag_end | (line_len_[i] > 0 ? log_flag_split : 0);
  encode_log_record(out, salt_, time_ns, stream, flags, {});
  reserved_ += record;
  line_len_[i] = 0;
  open_line_[i] = false;
  return e;
}

Result<void> LogWriter::append(LogStream stream, int64_t time_ns, std::string_view chunk) {
  return write_blocking(stream, time_ns, chunk, false);
}

Result<void> LogWriter::end_stream(LogStream stream, int64_t time_ns) {
  return write_blocking(stream, time_ns, {}, true);
}

Result<void> LogWriter::write_blocking(LogStream stream, int64_t time_ns, std::string_view chunk,
                                       bool end) {
  std::string buf;
  buf.reserve(chunk.size() + chunk.size() / 4 + 2 * log_record_overhead);
  while (!chunk.empty() || end) {
    Encoded e;
    if (!chunk.empty()) {
      e = encode(stream, time_ns, chunk, buf);
      chunk.remove_prefix(e.consumed);
    } else {
      e = encode_end(stream, time_ns, buf);
      end = e.rotate;
    }
    if (!buf.empty()) {
      auto r = write_all(fd_.get(), buf, "log " + dir_);
      if (!r) {
        (void)repair();
        return r;
      }
      commit(buf.size());
      buf.clear();
    }
    if (e.rotate) BERTH_TRY(rotate());
  }
  return {};
}

bool LogWriter::TurnAwaiter::await_ready() noexcept {
  if (w->busy_) return false;
  w->busy_ = true;
  return true;
}

void LogWriter::end_turn() {
  if (waiters_.empty()) {
    busy_ = false;
    return;
  }
  // The turn passes straight to the next waiter (busy_ stays set); it
  // resumes from the reactor's queue, not inside this call.
  std::coroutine_handle<> next = waiters_.front();
  waiters_.pop_front();
  io::Reactor::current()->post([next] { next.resume(); });
}

io::Task<Result<void>> LogWriter::append_async(LogStream stream, int64_t time_ns,
                                               std::string_view chunk) {
  co_await TurnAwaiter{this};  // coawait-trivial
  Result<void> r = co_await write_serialised(stream, time_ns, chunk, false);
  end_turn();
  co_return r;
}

io::Task<Result<void>> LogWriter::end_stream_async(LogStream stream, int64_t time_ns) {
  co_await TurnAwaiter{this};                                             // coawait-trivial
  Result<void> r = co_await write_serialised(stream, time_ns, {}, true);  // coawait-trivial
  end_turn();
  co_return r;
}

io::Task<Result<void>> LogWriter::write_serialised(LogStream stream, int64_t time_ns,
                                                   std::string_view chunk, bool end) {
  while (!chunk.empty() || end) {
    Encoded e;
    if (!chunk.empty()) {
      e = encode(stream, time_ns, chunk, scratch_);
      chunk.remove_prefix(e.consumed);
    } else {
      e = encode_end(stream, time_ns, scratch_);
      end = e.rotate;
    }
    size_t off = 0;
    while (off < scratch_.size()) {
      int n = co_await io::write(fd_.get(), scratch_.data() + off, scratch_.size() - off);
      if (n <= 0) {
        int err = n < 0 ? -n : ENOSPC;
        scratch_.clear();
        Result<void> fixed = co_await io::offload([this] { return repair(); });
        (void)fixed;
        co_return sys_fail(err, "write log " + dir_);
      }
      off += static_cast<size_t>(n);
    }
    commit(scratch_.size());
    scratch_.clear();
    if (e.rotate) {
      Result<void> rotated = co_await io::offload([this] { return rotate(); });
      if (!rotated) co_return rotated;
    }
  }
  co_return Result<void>{};
}

}  // namespace berth::core::container
