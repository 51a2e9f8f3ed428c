// Byte channels between a reactor coroutine and a blocking worker thread,
// with backpressure both ways, for streaming bodies through work that must
// not run on a reactor (unpacking an uploaded image, writing a saved one).
//
//   Inbound  (reactor -> thread): co_await push(chunk) waits while the
//            channel holds max_bytes; the thread's read() blocks while empty.
//   Outbound (thread -> reactor): the thread's write() blocks while full;
//            co_await next() yields chunks, empty at the end.
//
// Either side may close early with an error; the other side sees it. The
// reactor side must be used from one reactor thread; the blocking side from
// one thread at a time. Share a channel with std::shared_ptr.
#pragma once

#include <condition_variable>
#include <coroutine>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "io/reactor.h"
#include "io/task.h"

namespace berth::io {

class InboundChannel {
 public:
  explicit InboundChannel(size_t max_bytes = 8 << 20) : max_(max_bytes) {}

  // Reactor side.
  Task<Result<void>> push(std::string chunk);
  void close_write(std::optional<Error> err = std::nullopt);

  // Thread side: up to len bytes; 0 at the end; the writer's error if it
  // closed with one.
  Result<size_t> read(char* buf, size_t len);
  // The reader gave up (it failed): pushes fail from now on.
  void close_read(Error why);

 private:
  struct PushAwaiter;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> q_;
  size_t front_off_ = 0;
  size_t bytes_ = 0;
  size_t max_;
  bool write_closed_ = false;
  std::optional<Error> write_error_;
  std::optional<Error> read_error_;
  std::coroutine_handle<> waiter_;
  Reactor* waiter_reactor_ = nullptr;
};

class OutboundChannel {
 public:
  explicit OutboundChannel(size_t max_bytes = 8 << 20) : max_(max_bytes) {}

  // Thread side: blocks while full; fails once the reader went away.
  Result<void> write(std::string_view data);
  void close_write(std::optional<Error> err = std::nullopt);

  // Reactor side: the next chunk; empty at the end (or error).
  Task<Result<std::string>> next();
  void close_read(Error why);

 private:
  struct NextAwaiter;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> q_;
  size_t bytes_ = 0;
  size_t max_;
  bool write_closed_ = false;
  std::optional<Error> write_error_;
  std::optional<Error> read_error_;
  std::coroutine_handle<> waiter_;
  Reactor* waiter_reactor_ = nullptr;
};

}  // namespace berth::io
