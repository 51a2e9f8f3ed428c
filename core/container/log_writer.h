// LogWriter: appends what a container writes on stdout/stderr to its log
// directory (format and layout in log_record.h), rotating by size like
// docker's json-file driver with --log-opt max-size / max-file.
//
// Made for the reactor, where the writes go through io_uring:
//
//   std::string buf;                       // the caller's, reused
//   while (!chunk.empty()) {
//     auto e = log.encode(LogStream::out, log_now_ns(), chunk, buf);  // no syscall
//     chunk.remove_prefix(e.consumed);
//     // write all of buf with io::write(log.fd(), ...): fd() is O_APPEND,
//     // so the offset is ignored and each write lands at the end
//     log.commit(buf.size());              // or repair() after a failed write
//     buf.clear();
//     if (e.rotate) co_await io::offload([&] { return log.rotate(); });
//   }
//
// which is what append_async() does (and serialises, so the stdout and
// stderr readers of one container may both call it). append() is the same
// with blocking writes, for tests and tools. When a pipe reaches EOF, call
// end_stream_async() (or end_stream()) for that stream.
//
// Sizes: rotation happens before a record that would take the current file
// past max_size (header included), so no file exceeds it unless a single
// record does (a file always takes at least one record). max_files counts
// the current file: max_files 3 keeps log, log.1 and log.2.
//
// Thread-safety: one LogWriter per container directory (two writers on one
// directory corrupt nothing but rotate each other's files), used by one
// thread at a time; append_async() from one reactor. open(), rotate(),
// repair() and append() block. A LogWriter must not move while an
// append_async() is suspended.
#pragma once

#include <array>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/container/log_record.h"
#include "io/task.h"

namespace berth::core::container {

struct LogWriterOptions {
  int64_t max_size = 0;  // bytes per file; 0 or less: one file that grows without limit
  int max_files = 1;     // files kept, the current one included (at least 1)
};

// Wall-clock time for records: nanoseconds since the Unix epoch.
int64_t log_now_ns();

class LogWriter {
 public:
  // Opens DIR/log for appending, creating DIR and the file if needed. A torn
  // record at the end (a crash mid-write) is truncated away; leftovers
  // (log.new, log.K beyond max_files) are removed. Blocks.
  static Result<LogWriter> open(std::string dir, LogWriterOptions opts = {});

  LogWriter(LogWriter&&) noexcept = default;
  LogWriter& operator=(LogWriter&&) noexcept = default;

  struct Encoded {
    size_t consumed = 0;  // bytes of the chunk encoded into out
    bool rotate = false;  // the rest needs a new file: write out, rotate(), go on
  };
  // Appends to out the records for a chunk the container wrote on stream:
  // cut at each newline and where a line reaches 16 KiB (the writer keeps
  // each stream's position in its line across chunks). Stops early, with
  // rotate set, before a record that would not fit in the current file.
  // No syscalls; encoded bytes count against the file until commit() or
  // repair().
  Encoded encode(LogStream stream, int64_t time_ns, std::string_view chunk, std::string& out);

  // Appends to out the end-of-stream marker, if the stream has a line open
  // (the container's pipe reached EOF in the middle of a line): docker emits
  // what is left as a last message at EOF, and output after a restart starts
  // a new line. rotate as for encode() (then call again); nothing appended
  // when no line is open.
  Encoded encode_end(LogStream stream, int64_t time_ns, std::string& out);

  // The current file: O_APPEND, so writes go to its end whatever the offset.
  // Changes on rotate().
  int fd() const { return fd_.get(); }
  // n bytes of encoded records (whole records) are now in the file.
  void commit(size_t n);
  // After a failed or short write: cuts the file back to the last committed
  // record and forgets what was encoded but not committed. Blocks.
  Result<void> repair();
  // Moves log to log.1 (and so on, dropping the oldest) and starts a new log.
  // Everything encoded must be committed first. Blocks.
  Result<void> rotate();

  // encode + write + commit (+ rotate), blocking.
  Result<void> append(LogStream stream, int64_t time_ns, std::string_view chunk);
  // encode_end + write + commit (+ rotate), blocking: call at EOF of a stream.
  Result<void> end_stream(LogStream stream, int64_t time_ns);
  // The same through the calling reactor's ring; rotation runs on the
  // blocking pool. Calls on one writer run one after the other, in the order
  // they were made. chunk must stay valid until the task completes. On a
  // failed write the file is repaired and the error returned.
  io::Task<Result<void>> append_async(LogStream stream, int64_t time_ns, std::string_view chunk);
  io::Task<Result<void>> end_stream_async(LogStream stream, int64_t time_ns);

  // Committed bytes in the current file, header included.
  int64_t size() const { return size_; }
  const std::string& dir() const { return dir_; }
  const LogWriterOptions& options() const { return opts_; }

 private:
  LogWriter() = default;
  Result<void> write_blocking(LogStream stream, int64_t time_ns, std::string_view chunk, bool end);
  io::Task<Result<void>> write_serialised(LogStream stream, int64_t time_ns, std::string_view chunk,
                                          bool end);

  struct TurnAwaiter {
    LogWriter* w;
    bool await_ready() noexcept;
    void await_suspend(std::coroutine_handle<> h) { w->waiters_.push_back(h); }
    void await_resume() const noexcept {}
  };
  void end_turn();

  std::string dir_;
  LogWriterOptions opts_;
  unique_fd fd_;
  uint32_t salt_ = 0;
  int64_t size_ = 0;                  // committed bytes in the current file
  int64_t reserved_ = 0;              // encoded, not yet committed
  std::array<size_t, 3> line_len_{};  // bytes of each stream's line since its last cut
  std::array<bool, 3> open_line_{};   // each stream's last record was partial
  std::string scratch_;               // append_async's buffer
  bool busy_ = false;                 // an append_async holds the turn
  std::deque<std::coroutine_handle<>> waiters_;
};

}  // namespace berth::core::container
