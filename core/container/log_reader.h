// LogReader: reads a container's log back as docker's json-file driver
// would give it to /containers/{id}/logs — blocking, for a worker thread
// (io::offload), never a reactor.
//
// What comes out are docker's messages, rebuilt from the records (format in
// log_record.h): the pieces of one stream are joined up to the end of their
// line or to a 16 KiB piece, so a line that the container wrote in several
// reads is one message, and a longer line is several, cut where docker's
// copier cuts it. Concatenating the bytes of a stream's messages gives back
// exactly what the container wrote. A message's time is the time its last
// piece was read (docker stamps a line when its newline arrives), and the
// pieces of a line longer than 16 KiB share the time of the first (docker's
// partial-message timestamp). A line still without its newline is held back
// until it ends; it comes out, flagged partial, when the reader reaches the
// end of the log (without follow, or after finish()).
//
// Options, with docker's semantics:
//   tail    the last N messages of the log, counting both streams, before
//           any other filter; < 0 all; 0 none (follow shows only what comes).
//           Found by reading the newest files backwards from their end.
//   since   messages before it are skipped until the first at or after it;
//           from then on none is skipped (docker's forwarder).
//   until   reading stops at the first message after it (inclusive).
//   stdout, stderr   which streams come out (applied last).
//   follow  after what is there, wait for more, across rotations, until the
//           caller calls finish() (and everything is read) or stops asking.
//
// Rotation: the reader opens its files when it starts and keeps them open,
// so a file renamed or dropped meanwhile is still read whole. Following, it
// watches the directory (inotify), finishes the file it is on when that is
// renamed to log.1 and goes on with the file that came after it.
//
// Thread-safety: one thread calls next(); finish() from any thread. The
// reader owns its fds (files, inotify, an eventfd).
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/container/log_record.h"

namespace berth::core::container {

struct LogReadOptions {
  bool show_stdout = true;
  bool show_stderr = true;
  int64_t since_ns = 0;  // 0: from the start
  int64_t until_ns = 0;  // 0: no end
  int64_t tail = -1;     // < 0: all
  bool follow = false;
};

struct LogMessage {
  int64_t time_ns = 0;
  LogStream stream = LogStream::out;
  bool partial = false;  // ends without a newline (a 16 KiB piece, or a last unended line)
  std::string bytes;
};

enum class LogReadStatus {
  data,  // messages were appended
  idle,  // following: nothing new before the deadline
  end,   // nothing more will come (messages may have been appended too)
};

class LogReader {
 public:
  using Clock = std::chrono::steady_clock;

  // Opens the log of DIR (ROOT/containers/<id>) and finds where to start
  // (reading the ends of the newest files for tail). not_found if DIR does
  // not exist; a directory without a log yet reads as empty.
  static Result<std::unique_ptr<LogReader>> open(std::string dir, LogReadOptions opts);
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  // Appends the next messages to out, about max_bytes of them at most.
  // Without follow it never waits. Following, it waits for new records
  // until the deadline (then idle).
  Result<LogReadStatus> next(std::vector<LogMessage>& out, Clock::time_point deadline,
                             size_t max_bytes = 1 << 20);

  // Thread-safe. No more records will come (the container exited and its
  // output is committed): a following reader ends once it has read them
  // all, and a waiting next() wakes up.
  void finish();

  struct Stats {
    uint64_t bytes_read = 0;  // from log files, tail search included
    uint64_t records = 0;     // records decoded going forwards
    uint64_t files_opened = 0;
    uint64_t corrupt_skips = 0;  // bytes skipped over damaged records
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Pos {
    size_t file = 0;
    int64_t off = 0;
    auto operator<=>(const Pos&) const = default;
  };
  struct File {
    unique_fd fd;
    dev_t dev = 0;
    ino_t ino = 0;
    uint32_t salt = 0;
    int64_t limit = INT64_MAX;  // read no further (the end seen at open, without follow)
  };
  struct Pending {
    std::string bytes;
    int64_t last_ns = 0;
  };
  enum class Fetch { record, eof };

  explicit LogReader(std::string dir, LogReadOptions opts);
  Result<void> open_files();
  Result<std::optional<File>> open_file(const std::string& path);
  Result<void> select_tail(int64_t n, Pos scan_end);
  void seek(Pos p);
  Result<Fetch> fetch(LogRecord* rec, Pos* pos);
  void take(const LogRecord& rec, Pos pos);
  void emit(size_t stream, bool partial);
  void deliver(LogMessage&& m);
  void flush_pending();
  Result<bool> follow_rotation();
  Result<bool> open_successor();
  void wait_for_change(Clock::time_point deadline);

  std::string dir_;
  LogReadOptions opts_;
  std::vector<File> files_;  // oldest first; finished ones keep their slot, fd closed
  size_t cur_ = 0;
  std::string buf_;  // forward window of files_[cur_]: buf_len_ bytes valid
  size_t buf_len_ = 0;
  int64_t buf_off_ = 0;  // file offset of buf_[0]
  size_t buf_pos_ = 0;   // parse position in buf_
  bool resyncing_ = false;
  std::array<Pos, 3> include_from_{};  // per stream: records before it belong to other messages
  std::array<Pending, 3> pending_{};
  std::array<std::optional<int64_t>, 3> line_ns_{};  // time of a split line's first piece
  bool since_active_ = false;
  bool done_ = false;
  bool draining_ = false;    // the file read last was rotated: read it to its end, then move on
  bool final_pass_ = false;  // finish() seen: one more pass to the end, then end
  std::vector<LogMessage>* out_ = nullptr;
  size_t produced_ = 0;
  unique_fd inotify_;
  unique_fd wake_;  // eventfd, written by finish()
  std::atomic<bool> finished_{false};
  Stats stats_;
};

}  // namespace berth::core::container
