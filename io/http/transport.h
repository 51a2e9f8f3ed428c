// Transport: a connected byte stream on the current reactor — a plain socket
// here; TLS derives from it. read() returns >0 bytes, 0 at EOF, -errno on
// failure and -ECANCELED when the timeout passed. write_all() writes
// everything or fails. Owned by one reactor thread.
#pragma once

#include <sys/uio.h>

#include <optional>
#include <span>
#include <string_view>

#include "core/base/unique_fd.h"
#include "io/reactor.h"
#include "io/task.h"

namespace berth::io::http {

class Transport {
 public:
  explicit Transport(unique_fd fd) : fd_(std::move(fd)) {}
  virtual ~Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  int fd() const { return fd_.get(); }
  virtual Task<int> read(char* buf, size_t len, std::optional<Duration> timeout);
  // 0 when all bytes went out, -errno otherwise.
  virtual Task<int> write_all(std::string_view data, std::optional<Duration> timeout);
  virtual Task<int> write_all_v(std::span<const iovec> parts, std::optional<Duration> timeout);
  // Half-close: no more writes from us (the peer reads EOF).
  virtual void shutdown_write();

 protected:
  unique_fd fd_;
};

}  // namespace berth::io::http
