#include "core/container/log_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/container/log_files.h"

namespace berth::core::container {

namespace {

constexpr size_t read_chunk = 256 << 10;
// Backward reads start small (a short tail is the common case) and double.
constexpr int64_t back_chunk_first = 16 << 10;
constexpr int64_t back_chunk_max = 1 << 20;
// How far back a following reader looks for the start of a line that a
// stream has not finished yet, beyond what tail asked for.
constexpr int64_t follow_lookback = 64 << 10;
constexpr auto max_wait_slice = std::chrono::milliseconds(250);
constexpr auto poll_slice = std::chrono::milliseconds(50);  // without inotify
const auto header_end = static_cast<int64_t>(log_header_size);

// The streams a reader shows: stdout (1) and stderr (2). Records of other
// streams (the writer never writes stdin) are ignored.
bool shown_stream(size_t s) {
  return s == 1 || s == 2;
}

struct RecordInfo {
  int64_t off = 0;
  size_t stream = 0;
  uint8_t flags = 0;
  bool ends_message() const { return !(flags & log_flag_partial) || (flags & log_flag_split) != 0; }
  bool stream_end() const { return (flags & log_flag_end) != 0; }
};

// Walks the records of one file from `end` back to its header, reading
// backwards in blocks. If the file is damaged in a way that the backward
// walk cannot cross, it parses the rest forwards once (skipping the damage
// as the forward reader does) and walks that list instead.
class BackwardScan {
 public:
  BackwardScan(int fd, uint32_t salt, int64_t end, LogReader::Stats* stats)
      : fd_(fd), salt_(salt), cur_(end), buf_start_(end), stats_(stats) {}

  Result<std::optional<RecordInfo>> prev() {
    if (fallback_) {
      if (idx_ == 0) return std::nullopt;
      return recs_[--idx_];
    }
    while (cur_ > header_end) {
      std::string_view view(buf_.data(), static_cast<size_t>(cur_ - buf_start_));
      LogRecord rec;
      size_t n = 0;
      LogDecode d = decode_log_record_backward(view, salt_, &rec, &n);
      if (d == LogDecode::ok) {
        cur_ -= static_cast<int64_t>(n);
        return RecordInfo{cur_, static_cast<size_t>(rec.stream), rec.flags};
      }
      if (d == LogDecode::need_more && buf_start_ > header_end) {
        int64_t want = std::max(chunk_, cur_ - buf_start_);
        chunk_ = std::min(chunk_ * 2, back_chunk_max);
        int64_t from = std::max(header_end, buf_start_ - want);
        // Keep the piece of the record that straddles the old block, read
        // the new block in front of it; the buffer keeps its capacity.
        auto len = static_cast<size_t>(buf_start_ - from);
        auto keep = static_cast<size_t>(cur_ - buf_start_);
        carry_.assign(buf_.data(), keep);
        if (buf_.size() < len + keep) buf_.resize(len + keep);
        size_t got = BERTH_TRY(pread_full(fd_, buf_.data(), len, from));
        stats_->bytes_read += got;
        if (got == len) {
          std::memcpy(buf_.data() + len, carry_.data(), keep);
          buf_start_ = from;
          continue;
        }
      }
      BERTH_TRY(start_fallback());
      return prev();
    }
    return std::nullopt;
  }

 private:
  Result<void> start_fallback() {
    fallback_ = true;
    std::string buf;
    int64_t buf_off = header_end;
    size_t pos = 0;
    for (;;) {
      LogRecord rec;
      size_t n = 0;
      std::string_view avail = std::string_view(buf).substr(pos);
      LogDecode d = decode_log_record(avail, salt_, &rec, &n);
      int64_t off = buf_off + static_cast<int64_t>(pos);
      if (d == LogDecode::ok && off + static_cast<int64_t>(n) <= cur_) {
        recs_.push_back(RecordInfo{off, static_cast<size_t>(rec.stream), rec.flags});
        pos += n;
        continue;
      }
      if (d == LogDecode::corrupt) {
        ++pos;
        continue;
      }
      int64_t next = buf_off + static_cast<int64_t>(buf.size());
      if (d == LogDecode::ok || next >= cur_) {
        if (avail.empty() || d == LogDecode::ok) break;
        ++pos;  // a damaged tail: try the following bytes
        continue;
      }
      buf.erase(0, pos);
      buf_off += static_cast<int64_t>(pos);
      pos = 0;
      size_t have = buf.size();
      buf.resize(have + static_cast<size_t>(std::min<int64_t>(cur_ - next, read_chunk)));
      size_t got = BERTH_TRY(pread_full(fd_, buf.data() + have, buf.size() - have, next));
      stats_->bytes_read += got;
      buf.resize(have + got);
      if (got == 0) break;
    }
    idx_ = recs_.size();
    return {};
  }

  int fd_;
  uint32_t salt_;
  int64_t cur_;        // the records before this offset are still to walk
  std::string buf_;    // file bytes [buf_start_, cur_) at its start
  std::string carry_;  // the straddling piece while a block is read
  int64_t buf_start_;  // file offset of buf_[0]
  LogReader::Stats* stats_;
  int64_t chunk_ = back_chunk_first;
  bool fallback_ = false;
  std::vector<RecordInfo> recs_;
  size_t idx_ = 0;
};

bool same_file(const struct stat& st, dev_t dev, ino_t ino) {
  return st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

LogReader::LogReader(std::string dir, LogReadOptions opts) : dir_(std::move(dir)), opts_(opts) {}

LogReader::~LogReader() = default;

Result<std::unique_ptr<LogReader>> LogReader::open(std::string dir, LogReadOptions opts) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return sys_fail(errno, "open log " + dir);
  std::unique_ptr<LogReader> r(new LogReader(std::move(dir), opts));
  r->wake_ = unique_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!r->wake_) return sys_fail(errno, "eventfd");
  if (opts.follow) {
    // Watch before listing, so that nothing that happens after the listing
    // goes unseen. Without inotify (limits), following polls instead.
    unique_fd in(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (in &&
        ::inotify_add_watch(in.get(), r->dir_.c_str(),
                            IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) >= 0) {
      r->inotify_ = std::move(in);
    }
  }
  BERTH_TRY(r->open_files());

  Pos scan_end{0, header_end};
  if (!r->files_.empty()) {
    File& last = r->files_.back();
    if (::fstat(last.fd.get(), &st) != 0) return sys_fail(errno, "stat log " + r->dir_);
    int64_t end =
        BERTH_TRY(find_log_end(last.fd.get(), last.salt, st.st_size, &r->stats_.bytes_read));
    if (!opts.follow) last.limit = end;
    scan_end = Pos{r->files_.size() - 1, end};
  }
  Pos start = scan_end;
  if (opts.tail < 0) {
    start = Pos{0, header_end};
    r->include_from_.fill(start);
  } else if (r->files_.empty() || (opts.tail == 0 && !opts.follow)) {
    r->include_from_.fill(scan_end);
  } else {
    BERTH_TRY(r->select_tail(opts.tail, scan_end));
    for (const Pos& p : r->include_from_) start = std::min(start, p);
  }
  r->seek(start);
  r->since_active_ = opts.since_ns > 0;
  return r;
}

Result<std::optional<LogReader::File>> LogReader::open_file(const std::string& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<File>();
    return sys_fail(errno, "open " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_fail(errno, "stat " + path);
  auto salt = read_log_header(fd.get());
  stats_.bytes_read += log_header_size;
  if (!salt) return std::optional<File>();  // not a log file: nothing to read in it
  File f;
  f.fd = std::move(fd);
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.salt = *salt;
  ++stats_.files_opened;
  return std::optional<File>(std::move(f));
}

Result<void> LogReader::open_files() {
  // Newest first: a rotation while this runs moves files to higher numbers,
  // so going down the list meets every file at least once; duplicates are
  // the same inode seen under two names.
  std::vector<std::string> names{log_path(dir_, 0)};
  auto rotated = BERTH_TRY(list_rotated_logs(dir_));
  for (int k : rotated) names.push_back(log_path(dir_, k));
  std::vector<File> newest_first;
  for (const std::string& name : names) {
    auto f = BERTH_TRY(open_file(name));
    if (!f) continue;
    bool dup = std::any_of(newest_first.begin(), newest_first.end(),
                           [&](const File& g) { return g.dev == f->dev && g.ino == f->ino; });
    if (!dup) newest_first.push_back(std::move(*f));
  }
  files_.clear();
  for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
    files_.push_back(std::move(*it));
  }
  return {};
}

Result<void> LogReader::select_tail(int64_t n, Pos scan_end) {
  // Walk back from the end counting docker messages: a record that ends a
  // message starts (walking backwards) a new one of its stream. Records of a
  // stream after its last unselected message are all selected, so each
  // stream's selection is a suffix: remember where it starts.
  enum class State { unseen, open, closed };
  std::array<State, 3> state{};
  std::array<std::optional<Pos>, 3> first{};
  int64_t remaining = n;
  int64_t scanned = 0;
  auto settled = [&] {
    if (remaining > 0) return false;
    if (std::any_of(state.begin(), state.end(), [](State s) { return s == State::open; })) {
      return false;
    }
    // Following, a stream's line begun before the end and finished later
    // comes out whole: look back a little for streams not met yet.
    bool unmet = state[1] == State::unseen || state[2] == State::unseen;
    return !opts_.follow || !unmet || scanned >= follow_lookback;
  };
  for (size_t fi = scan_end.file + 1; fi-- > 0 && !settled();) {
    File& f = files_[fi];
    int64_t end = scan_end.off;
    if (fi != scan_end.file) {
      struct stat st {};
      if (::fstat(f.fd.get(), &st) != 0) return sys_fail(errno, "stat log " + dir_);
      end = BERTH_TRY(find_log_end(f.fd.get(), f.salt, st.st_size, &stats_.bytes_read));
    }
    BackwardScan scan(f.fd.get(), f.salt, end, &stats_);
    int64_t last_off = end;
    while (!settled()) {
      auto r = BERTH_TRY(scan.prev());
      if (!r) break;
      scanned += last_off - r->off;
      last_off = r->off;
      size_t s = r->stream;
      if (!shown_stream(s) || state[s] == State::closed) continue;
      Pos p{fi, r->off};
      // An end marker ends a message if it is flagged so; else it only
      // closes a line already cut, and is no message.
      if (r->stream_end() && !r->ends_message()) continue;
      bool ends = r->ends_message();
      if (ends || state[s] == State::unseen) {
        // A new message, walking backwards. The newest piece of a line not
        // yet ended is one too — except when following, where it comes out
        // once it ends, as docker's would (its copier holds it back).
        bool counted = ends || !opts_.follow;
        if (counted && remaining == 0) {
          state[s] = State::closed;
          continue;
        }
        if (counted) --remaining;
        state[s] = State::open;
      }
      first[s] = p;
    }
  }
  for (size_t s = 0; s < 3; ++s) include_from_[s] = first[s].value_or(scan_end);
  return {};
}

void LogReader::seek(Pos p) {
  for (size_t i = 0; i < p.file && i < files_.size(); ++i) files_[i].fd.reset();
  cur_ = p.file;
  buf_len_ = 0;
  buf_off_ = p.off;
  buf_pos_ = 0;
  resyncing_ = false;
}

Result<LogReader::Fetch> LogReader::fetch(LogRecord* rec, Pos* pos) {
  bool file_eof = false;
  for (;;) {
    if (cur_ >= files_.size()) return Fetch::eof;
    File& f = files_[cur_];
    std::string_view avail(buf_.data() + buf_pos_, buf_len_ - buf_pos_);
    size_t n = 0;
    LogDecode d = avail.empty() ? LogDecode::need_more : decode_log_record(avail, f.salt, rec, &n);
    if (d == LogDecode::ok) {
      int64_t off = buf_off_ + static_cast<int64_t>(buf_pos_);
      if (off + static_cast<int64_t>(n) > f.limit) return Fetch::eof;
      buf_pos_ += n;
      resyncing_ = false;
      ++stats_.records;
      *pos = Pos{cur_, off};
      return Fetch::record;
    }
    if (d == LogDecode::corrupt) {
      // Damage (not a torn end: that is need_more): look for the next
      // record boundary.
      ++buf_pos_;
      ++stats_.corrupt_skips;
      resyncing_ = true;
      continue;
    }
    bool following_this = opts_.follow && cur_ + 1 == files_.size();
    if (!file_eof) {
      size_t have = buf_len_ - buf_pos_;
      if (have > 0 && buf_pos_ > 0) std::memmove(buf_.data(), buf_.data() + buf_pos_, have);
      buf_off_ += static_cast<int64_t>(buf_pos_);
      buf_pos_ = 0;
      buf_len_ = have;
      int64_t from = buf_off_ + static_cast<int64_t>(have);
      size_t got = 0;
      if (from < f.limit) {
        auto want = static_cast<size_t>(std::min<int64_t>(f.limit - from, read_chunk));
        if (buf_.size() < have + want) buf_.resize(have + want);
        got = BERTH_TRY(pread_full(f.fd.get(), buf_.data() + have, want, from));
        buf_len_ = have + got;
        stats_.bytes_read += got;
      }
      if (got > 0) continue;
      file_eof = true;
    }
    // At the end of the file for now. What is left is a record still being
    // written (following the current file), a torn end, or damage.
    if (resyncing_ && !avail.empty() && !following_this) {
      ++buf_pos_;
      ++stats_.corrupt_skips;
      continue;
    }
    return Fetch::eof;
  }
}

void LogReader::take(const LogRecord& rec, Pos pos) {
  auto s = static_cast<size_t>(rec.stream);
  if (!shown_stream(s) || pos < include_from_[s]) return;
  Pending& p = pending_[s];
  if (rec.stream_end()) {
    // EOF: docker emits what is left of the line, stamped now (or with its
    // first piece's time if it was already cut), and starts over.
    if (!p.bytes.empty()) {
      p.last_ns = rec.time_ns;
      emit(s, true);
    }
    line_ns_[s].reset();
    return;
  }
  p.bytes.append(rec.bytes);
  p.last_ns = rec.time_ns;
  if (rec.ends_message()) {
    emit(s, rec.partial());
  } else if (p.bytes.size() >= log_max_payload) {
    emit(s, true);  // not written by LogWriter (it splits at 16 KiB): bound the memory
  }
}

void LogReader::emit(size_t s, bool partial) {
  Pending& p = pending_[s];
  int64_t t = p.last_ns;
  if (partial) {
    if (!line_ns_[s]) line_ns_[s] = t;
    t = *line_ns_[s];
  } else if (line_ns_[s]) {
    t = *line_ns_[s];
    line_ns_[s].reset();
  }
  LogMessage m;
  m.time_ns = t;
  m.stream = static_cast<LogStream>(s);
  m.partial = partial;
  m.bytes = std::move(p.bytes);
  p.bytes.clear();
  deliver(std::move(m));
}

void LogReader::deliver(LogMessage&& m) {
  if (done_) return;
  if (since_active_) {
    if (m.time_ns < opts_.since_ns) return;
    since_active_ = false;
  }
  if (opts_.until_ns > 0 && m.time_ns > opts_.until_ns) {
    done_ = true;
    return;
  }
  if (m.stream == LogStream::out && !opts_.show_stdout) return;
  if (m.stream == LogStream::err && !opts_.show_stderr) return;
  produced_ += m.bytes.size() + 1;
  out_->push_back(std::move(m));
}

void LogReader::flush_pending() {
  // Lines left without their newline, oldest first.
  std::vector<size_t> order;
  for (size_t s = 1; s <= 2; ++s) {
    if (!pending_[s].bytes.empty()) order.push_back(s);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return pending_[a].last_ns < pending_[b].last_ns; });
  for (size_t s : order) emit(s, true);
}

Result<LogReadStatus> LogReader::next(std::vector<LogMessage>& out, Clock::time_point deadline,
                                      size_t max_bytes) {
  if (done_) return LogReadStatus::end;
  out_ = &out;
  produced_ = 0;
  for (;;) {
    while (!done_ && produced_ < max_bytes) {
      LogRecord rec;
      Pos pos;
      Fetch f = BERTH_TRY(fetch(&rec, &pos));
      if (f == Fetch::record) {
        take(rec, pos);
        continue;
      }
      if (cur_ + 1 < files_.size()) {
        seek(Pos{cur_ + 1, header_end});
        continue;
      }
      break;
    }
    if (done_) return LogReadStatus::end;
    if (produced_ >= max_bytes) return LogReadStatus::data;
    if (opts_.follow) {
      bool more = BERTH_TRY(follow_rotation());
      if (more) continue;
    }
    if (!opts_.follow || final_pass_) {
      flush_pending();
      done_ = true;
      return LogReadStatus::end;
    }
    if (produced_ > 0) return LogReadStatus::data;
    if (finished_.load(std::memory_order_acquire)) {
      // Whatever the writer committed before finish() is there now: one
      // more pass to the end.
      final_pass_ = true;
      continue;
    }
    if (Clock::now() >= deadline) return LogReadStatus::idle;
    wait_for_change(deadline);
  }
}

Result<bool> LogReader::follow_rotation() {
  if (draining_) {
    // The file was read to its end after its rename: go on with the next.
    bool opened = BERTH_TRY(open_successor());
    if (opened) draining_ = false;
    return opened;
  }
  if (files_.empty()) return open_successor();
  struct stat st {};
  std::string path = log_path(dir_, 0);
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;  // in the middle of a rotation
    return sys_fail(errno, "stat " + path);
  }
  const File& f = files_.back();
  if (same_file(st, f.dev, f.ino)) return false;
  // Renamed away: the writer wrote its last record to it before renaming,
  // so one more read to its end gets everything, then the successor.
  draining_ = true;
  return true;
}

Result<bool> LogReader::open_successor() {
  auto rotated = BERTH_TRY(list_rotated_logs(dir_));
  std::optional<int> at;  // where the file read last lives now
  struct stat st {};
  if (!files_.empty()) {
    const File& last = files_.back();
    for (int k : rotated) {
      if (::stat(log_path(dir_, k).c_str(), &st) == 0 && same_file(st, last.dev, last.ino)) {
        at = k;
        break;
      }
    }
    if (!at && ::stat(log_path(dir_, 0).c_str(), &st) == 0 && same_file(st, last.dev, last.ino)) {
      return false;  // not rotated
    }
  }
  // The next file is the one just below it. If it is gone (dropped by
  // max-file), the oldest file left is the next we can read.
  std::string name;
  if (at) {
    name = log_path(dir_, *at - 1);
  } else {
    name = log_path(dir_, rotated.empty() ? 0 : rotated.back());
  }
  auto f = BERTH_TRY(open_file(name));
  if (!f) return false;  // a rotation is renaming: try again when it is done
  if (!files_.empty()) {
    const File& last = files_.back();
    if (f->dev == last.dev && f->ino == last.ino) return false;
    // If the file read last has not moved while the name was opened, the
    // name still meant its successor (renames go from the oldest down).
    if (at &&
        (::stat(log_path(dir_, *at).c_str(), &st) != 0 || !same_file(st, last.dev, last.ino))) {
      return false;
    }
  }
  files_.push_back(std::move(*f));
  return true;
}

void LogReader::wait_for_change(Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  auto slice = inotify_ ? std::chrono::duration_cast<Clock::duration>(max_wait_slice)
                        : std::chrono::duration_cast<Clock::duration>(poll_slice);
  if (left < slice) slice = left;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(slice).count();
  pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {inotify_ ? inotify_.get() : -1, POLLIN, 0}};
  ::poll(fds, 2, static_cast<int>(std::max<int64_t>(ms, 1)));
  if (inotify_) {
    alignas(inotify_event) char ev[4096];
    while (::read(inotify_.get(), ev, sizeof ev) > 0) {
    }
  }
}

void LogReader::finish() {
  finished_.store(true, std::memory_order_release);
  uint64_t one = 1;
  ssize_t n = ::write(wake_.get(), &one, sizeof one);
  (void)n;
}

}  // namespace berth::core::container
