#include "io/http/transport.h"

#include <sys/socket.h>

#include <vector>

namespace berth::io::http {

Task<int> Transport::read(char* buf, size_t len, std::optional<Duration> timeout) {
  // Peers usually send only after our last write, so data is rarely there
  // yet: arm the poll first instead of trying a recv that fails.
  int fd = fd_.get();
  auto call = [=](io_uring_sqe* s) {
    io_uring_prep_recv(s, fd, buf, len, 0);
    s->ioprio |= IORING_RECVSEND_POLL_FIRST;
  };
  int n = co_await io::submit(std::move(call), timeout);
  co_return n;
}

Task<int> Transport::write_all(std::string_view data, std::optional<Duration> timeout) {
  while (!data.empty()) {
    int n = co_await io::send(fd_.get(), data.data(), data.size(), timeout);
    if (n < 0) co_return n;
    if (n == 0) co_return -EPIPE;
    data.remove_prefix(static_cast<size_t>(n));
  }
  co_return 0;
}

namespace {
struct MsgAwaitPrep {
  int fd;
  msghdr* msg;
  void operator()(io_uring_sqe* s) const { io_uring_prep_sendmsg(s, fd, msg, MSG_NOSIGNAL); }
};
}  // namespace

Task<int> Transport::write_all_v(std::span<const iovec> parts, std::optional<Duration> timeout) {
  std::vector<iovec> iov(parts.begin(), parts.end());
  size_t first = 0;
  while (first < iov.size()) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = iov.size() - first;
    int n = co_await io::submit(MsgAwaitPrep{fd_.get(), &msg}, timeout);  // coawait-trivial
    if (n < 0) co_return n;
    if (n == 0) co_return -EPIPE;
    auto left = static_cast<size_t>(n);
    while (left > 0 && first < iov.size()) {
      size_t take = std::min(left, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      left -= take;
      if (iov[first].iov_len == 0) ++first;
    }
  }
  co_return 0;
}

void Transport::shutdown_write() {
  ::shutdown(fd_.get(), SHUT_WR);
}

}  // namespace berth::io::http
