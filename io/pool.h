// BlockingPool: a few helper threads for calls that block (SQLite, mount,
// clone waiting for its child, fsync, DNS). A reactor hands a call over with
// co_await offload(fn); the call runs on a helper and the coroutine resumes
// on its own reactor with the result.
//
// Thread-safety: submit() and offload() from any thread. The global pool is
// created on first use with max(4, cores) threads and lives until exit.
#pragma once

#include <condition_variable>
#include <coroutine>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "io/reactor.h"

namespace berth::io {

class BlockingPool {
 public:
  explicit BlockingPool(int threads);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void submit(std::function<void()> fn);
  static BlockingPool& global();

 private:
  void worker();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

template <class F>
struct OffloadAwaiter {
  using R = std::invoke_result_t<F&>;
  using Stored = std::conditional_t<std::is_void_v<R>, bool, R>;
  F fn;
  std::optional<Stored> result;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    Reactor* r = Reactor::current();
    BlockingPool::global().submit([this, h, r] {
      if constexpr (std::is_void_v<R>) {
        fn();
        result.emplace(true);
      } else {
        result.emplace(fn());
      }
      r->post([h] { h.resume(); });
    });
  }
  R await_resume() {
    if constexpr (!std::is_void_v<R>) return std::move(*result);
  }
};

// co_await offload([..] { return blocking_call(); }) — runs on the pool,
// resumes on the calling reactor. The callable is moved into the awaiter.
template <class F>
OffloadAwaiter<std::decay_t<F>> offload(F&& fn) {
  return OffloadAwaiter<std::decay_t<F>>{std::forward<F>(fn), std::nullopt};
}

// A blocking call started now on the pool and awaited later (e.g. a job
// that consumes a channel the awaiting coroutine fills meanwhile).
template <class R>
class BlockingJob {
 public:
  template <class F>
  static std::shared_ptr<BlockingJob> start(F&& fn) {
    auto job = std::make_shared<BlockingJob>();
    BlockingPool::global().submit([job, f = std::forward<F>(fn)]() mutable {
      R r = f();
      std::coroutine_handle<> wake;
      Reactor* on = nullptr;
      {
        std::lock_guard lock(job->mu_);
        job->result_.emplace(std::move(r));
        wake = std::exchange(job->waiter_, {});
        on = job->reactor_;
      }
      if (wake) on->post([wake] { wake.resume(); });
    });
    return job;
  }

  struct Awaiter {
    BlockingJob* job;
    bool await_ready() {
      std::lock_guard lock(job->mu_);
      return job->result_.has_value();
    }
    bool await_suspend(std::coroutine_handle<> h) {
      std::lock_guard lock(job->mu_);
      if (job->result_) return false;
      job->waiter_ = h;
      job->reactor_ = Reactor::current();
      return true;
    }
    R await_resume() { return std::move(*job->result_); }
  };
  // Awaited once, from one reactor.
  Awaiter wait() { return Awaiter{this}; }

 private:
  std::mutex mu_;
  std::optional<R> result_;
  std::coroutine_handle<> waiter_;
  Reactor* reactor_ = nullptr;
};

}  // namespace berth::io
