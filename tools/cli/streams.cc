#include "tools/cli/streams.h"

#include <poll.h>
#include <unistd.h>

#include <cstring>

#include "core/base/strings.h"
#include "io/reactor.h"

namespace berth::cli {

Result<void> StreamDemux::feed(std::string_view data, std::vector<Piece>& out) {
  while (!data.empty()) {
    if (remaining_ == 0) {
      size_t take = std::min(data.size(), sizeof header_ - header_len_);
      std::memcpy(header_ + header_len_, data.data(), take);
      header_len_ += take;
      data.remove_prefix(take);
      if (header_len_ < sizeof header_) break;
      header_len_ = 0;
      stream_ = header_[0];
      if (stream_ > 3) return fail(Errc::corrupt, str_cat("Unrecognized input header: ", stream_));
      remaining_ = static_cast<uint32_t>(header_[4]) << 24 |
                   static_cast<uint32_t>(header_[5]) << 16 |
                   static_cast<uint32_t>(header_[6]) << 8 | static_cast<uint32_t>(header_[7]);
      if (remaining_ == 0) continue;
    }
    size_t take = std::min<size_t>(data.size(), remaining_);
    std::string_view part = data.substr(0, take);
    data.remove_prefix(take);
    remaining_ -= static_cast<uint32_t>(take);
    if (stream_ == 3) {
      system_error_.append(part);
      if (remaining_ == 0)
        return fail(Errc::internal, "error from daemon in stream: " + system_error_);
      continue;
    }
    out.push_back({stream_, part});
  }
  return {};
}

io::Task<Result<void>> write_fd(int fd, std::string_view data) {
  while (!data.empty()) {
    int n = co_await io::write(fd, data.data(), data.size());
    if (n == -EAGAIN) {
      // A non-blocking fd (shared with the shell): wait until it takes more.
      int ready = co_await io::poll(fd, POLLOUT);
      (void)ready;
      continue;
    }
    if (n == -EINTR) continue;
    if (n <= 0) co_return sys_fail(n < 0 ? -n : EIO, "write");
    data.remove_prefix(static_cast<size_t>(n));
  }
  co_return Result<void>{};
}

io::Task<Result<void>> OutputSink::write(std::string_view data) {
  if (tty) co_return co_await write_fd(1, data);
  pieces.clear();
  auto fed = demux.feed(data, pieces);
  // What came before a bad header still goes out.
  for (const auto& p : pieces) {
    auto w = co_await write_fd(p.stream == 2 ? 2 : 1, p.data);
    if (!w) co_return w;
  }
  co_return fed;
}

io::Task<Result<void>> pump_output(std::shared_ptr<AttachStream> s) {
  OutputSink sink;
  sink.tty = s->tty;
  std::string first(s->conn->leftover());
  if (!first.empty()) {
    auto w = co_await sink.write(first);
    if (!w) co_return w;
  }
  std::string buf(64 * 1024, '\0');
  for (;;) {
    int n = co_await s->conn->transport().read(buf.data(), buf.size(), std::nullopt);
    // A reset after the container ended is an end like any other.
    if (n == 0 || n == -ECONNRESET) break;
    if (n < 0) co_return sys_fail(-n, "read attach stream");
    auto w = co_await sink.write(std::string_view(buf.data(), static_cast<size_t>(n)));
    if (!w) co_return w;
  }
  co_return Result<void>{};
}

io::Task<void> pump_stdin(std::shared_ptr<AttachStream> s, bool stdin) {
  if (stdin) {
    std::string buf(32 * 1024, '\0');
    for (;;) {
      int n = co_await io::read(0, buf.data(), buf.size());
      if (n == -EAGAIN) {
        int ready = co_await io::poll(0, POLLIN);
        (void)ready;
        continue;
      }
      if (n == -EINTR) continue;
      if (n <= 0) break;
      int rc = co_await s->conn->transport().write_all(
          std::string_view(buf.data(), static_cast<size_t>(n)), std::nullopt);
      if (rc < 0) co_return;
    }
  }
  s->conn->transport().shutdown_write();
}

}  // namespace berth::cli
