// Reactor: one thread's io_uring event loop.
//
// Each reactor thread owns one ring; every socket, file and timer operation
// started on that thread completes back on it, resuming the coroutine that
// awaited it. Nothing here blocks except the wait for completions.
//
// Thread-safety: everything is for the owning thread only, except post() and
// stop(), which any thread may call. A Reactor lives as long as its thread's
// run() call; ReactorGroup owns several, one per thread.
#pragma once

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/base/error.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "io/task.h"

namespace berth::io {

// The target of one completion: each SQE's user_data is an Op* (or 0 when the
// completion needs no handling, e.g. a linked timeout).
struct Op {
  using Fn = void (*)(Op*, int res, uint32_t flags);
  Fn complete = nullptr;
};

using Duration = std::chrono::nanoseconds;

class Reactor {
 public:
  struct Options {
    unsigned entries = 256;
    int index = 0;
  };
  // Creates the ring on the calling thread, which becomes the reactor's thread.
  static Result<std::unique_ptr<Reactor>> create(const Options& opts);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // The reactor of the calling thread, or nullptr.
  static Reactor* current();

  int index() const { return index_; }
  // Processes completions until stop(); returns on the owning thread.
  void run();
  // Runs the loop until t finishes; returns its value. For tools and tests
  // that drive one task on the current thread.
  template <class T>
  T run_until(Task<T> t);

  // Thread-safe.
  void stop();
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }
  // Thread-safe: runs fn on this reactor's thread at its next iteration.
  void post(std::function<void()> fn);

  // An SQE for the caller to prepare; submits pending ones first if the
  // queue is full. reserve(n) guarantees that the next n get_sqe() calls
  // do not flush (needed for linked SQEs).
  io_uring_sqe* get_sqe();
  void reserve(unsigned n);
  // Asks the kernel to cancel the operation whose user_data is op.
  void cancel(Op* op);

 private:
  Reactor() = default;
  void arm_wakeup();
  void drain_posted();
  static void on_wakeup(Op* op, int res, uint32_t flags);

  io_uring ring_{};
  int index_ = 0;
  std::atomic<bool> stop_{false};
  unique_fd event_fd_;
  struct WakeOp : Op {
    Reactor* self;
    uint64_t value;
  } wake_op_{};
  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::function<void()>> running_;
  std::atomic<bool> wake_pending_{false};
};

// --- awaitables ------------------------------------------------------------

// Base of awaitables that complete one SQE (plus an optional linked timeout).
struct SqeAwaitBase : Op {
  std::coroutine_handle<> waiter;
  int result = 0;
  uint32_t cqe_flags = 0;
  static void on_done(Op* op, int res, uint32_t flags) {
    auto* self = static_cast<SqeAwaitBase*>(op);
    self->result = res;
    self->cqe_flags = flags;
    self->waiter.resume();
  }
};

// co_await yields the CQE result: >= 0 on success, -errno on failure,
// -ECANCELED when the timeout fired first.
template <class Prep>
struct SqeAwaiter : SqeAwaitBase {
  Prep prep;
  __kernel_timespec ts{};
  bool has_timeout = false;

  SqeAwaiter(Prep p, std::optional<Duration> timeout) : prep(std::move(p)) {
    if (timeout) {
      has_timeout = true;
      auto ns = timeout->count();
      if (ns < 0) ns = 0;
      ts.tv_sec = ns / 1000000000;
      ts.tv_nsec = ns % 1000000000;
    }
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    waiter = h;
    complete = &SqeAwaitBase::on_done;
    Reactor* r = Reactor::current();
    r->reserve(has_timeout ? 2 : 1);
    io_uring_sqe* s = r->get_sqe();
    prep(s);
    io_uring_sqe_set_data(s, static_cast<Op*>(this));
    if (has_timeout) {
      s->flags |= IOSQE_IO_LINK;
      io_uring_sqe* t = r->get_sqe();
      io_uring_prep_link_timeout(t, &ts, 0);
      io_uring_sqe_set_data(t, nullptr);
    }
  }
  int await_resume() const noexcept { return result; }
};

template <class Prep>
SqeAwaiter<Prep> submit(Prep p, std::optional<Duration> timeout = std::nullopt) {
  return SqeAwaiter<Prep>(std::move(p), timeout);
}

inline auto recv(int fd, void* buf, size_t len, std::optional<Duration> timeout = std::nullopt) {
  return submit([=](io_uring_sqe* s) { io_uring_prep_recv(s, fd, buf, len, 0); }, timeout);
}
inline auto send(int fd, const void* buf, size_t len,
                 std::optional<Duration> timeout = std::nullopt) {
  return submit([=](io_uring_sqe* s) { io_uring_prep_send(s, fd, buf, len, MSG_NOSIGNAL); },
                timeout);
}
// read/write at the current file position (offset -1) or at off.
inline auto read(int fd, void* buf, size_t len, int64_t off = -1,
                 std::optional<Duration> timeout = std::nullopt) {
  return submit(
      [=](io_uring_sqe* s) {
        io_uring_prep_read(s, fd, buf, static_cast<unsigned>(len), static_cast<uint64_t>(off));
      },
      timeout);
}
inline auto write(int fd, const void* buf, size_t len, int64_t off = -1,
                  std::optional<Duration> timeout = std::nullopt) {
  return submit(
      [=](io_uring_sqe* s) {
        io_uring_prep_write(s, fd, buf, static_cast<unsigned>(len), static_cast<uint64_t>(off));
      },
      timeout);
}
inline auto connect(int fd, const sockaddr* addr, socklen_t len,
                    std::optional<Duration> timeout = std::nullopt) {
  return submit([=](io_uring_sqe* s) { io_uring_prep_connect(s, fd, addr, len); }, timeout);
}
inline auto poll(int fd, unsigned mask, std::optional<Duration> timeout = std::nullopt) {
  return submit([=](io_uring_sqe* s) { io_uring_prep_poll_add(s, fd, mask); }, timeout);
}

// Completes after d (result -ETIME), or early with -ECANCELED.
struct SleepAwaiter : SqeAwaitBase {
  __kernel_timespec ts{};
  explicit SleepAwaiter(Duration d) {
    auto ns = d.count() < 0 ? 0 : d.count();
    ts.tv_sec = ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    waiter = h;
    complete = &SqeAwaitBase::on_done;
    io_uring_sqe* s = Reactor::current()->get_sqe();
    io_uring_prep_timeout(s, &ts, 0, 0);
    io_uring_sqe_set_data(s, static_cast<Op*>(this));
  }
  int await_resume() const noexcept { return result; }
};
inline SleepAwaiter sleep(Duration d) {
  return SleepAwaiter(d);
}

// Moves the awaiting coroutine to reactor r (resumes on r's thread).
struct SwitchAwaiter {
  Reactor* target;
  bool await_ready() const noexcept { return Reactor::current() == target; }
  void await_suspend(std::coroutine_handle<> h) const {
    target->post([h] { h.resume(); });
  }
  void await_resume() const noexcept {}
};
inline SwitchAwaiter switch_to(Reactor* r) {
  return SwitchAwaiter{r};
}

// --- groups of reactor threads --------------------------------------------

class ReactorGroup {
 public:
  ReactorGroup() = default;
  ~ReactorGroup();
  // Starts n threads, each creating its reactor and then calling init(r) on
  // its own thread before entering its loop. Returns once all rings exist.
  Result<void> start(int n, std::function<void(Reactor&)> init);
  int size() const { return static_cast<int>(reactors_.size()); }
  Reactor& at(int i) { return *reactors_[static_cast<size_t>(i)]; }
  // Thread-safe: every loop returns at its next iteration.
  void stop_all();
  void join();

 private:
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<Reactor>> reactors_;
};

// --- implementation of run_until --------------------------------------------

namespace detail {
template <class T>
Task<void> run_and_stop(Task<T> t, std::optional<T>* out, Reactor* r) {
  out->emplace(co_await std::move(t));
  r->stop();
}
inline Task<void> run_and_stop_void(Task<void> t, Reactor* r) {
  co_await std::move(t);
  r->stop();
}
}  // namespace detail

template <class T>
T Reactor::run_until(Task<T> t) {
  if constexpr (std::is_void_v<T>) {
    spawn(detail::run_and_stop_void(std::move(t), this));
    run();
    stop_.store(false);
  } else {
    std::optional<T> out;
    spawn(detail::run_and_stop(std::move(t), &out, this));
    run();
    stop_.store(false);
    return std::move(*out);
  }
}

}  // namespace berth::io
