// ReadyPool<T>: things made ahead of time on the blocking pool (network
// namespaces, spare cgroups), so that taking one is cheap on a hot path.
// take() hands out a ready one (or none) and starts a refill up to the
// target; one refill runs at a time. A make() that fails turns the pool off
// (callers make their own from then on) and is logged once.
//
// Thread-safety: all calls from any thread. The destructor waits for a
// refill in flight; release() hands back what is left (e.g. to remove it).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/error.h"
#include "core/base/log.h"
#include "io/pool.h"

namespace berth::io {

template <class T>
class ReadyPool {
 public:
  // what: for the log ("network namespace"); target 0: off.
  ReadyPool(std::string what, int target, std::function<Result<T>()> make)
      : what_(std::move(what)), target_(target), make_(std::move(make)) {}
  ~ReadyPool() { (void)release(); }
  ReadyPool(const ReadyPool&) = delete;
  ReadyPool& operator=(const ReadyPool&) = delete;

  // A ready one, or nullopt; starts a refill either way.
  std::optional<T> take() {
    std::optional<T> out;
    {
      std::lock_guard lock(mu_);
      if (stopped_) return out;  // (a broken pool still hands out what it has)
      if (!ready_.empty()) {
        out.emplace(std::move(ready_.back()));
        ready_.pop_back();
      }
    }
    refill_later();
    return out;
  }
  // (blocking) Fills up to the target on this thread.
  void fill() {
    {
      std::lock_guard lock(mu_);
      if (!on_locked() || refilling_) return;
      refilling_ = true;
    }
    refill();
  }
  int ready() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(ready_.size());
  }
  // Turns the pool off (no refill after this) and hands back what is ready.
  std::vector<T> release() {
    std::unique_lock lock(mu_);
    stopped_ = true;
    idle_.wait(lock, [this] { return !refilling_; });
    return std::exchange(ready_, {});
  }

 private:
  bool on_locked() const { return target_ > 0 && !broken_ && !stopped_; }
  void refill_later() {
    {
      std::lock_guard lock(mu_);
      if (!on_locked() || refilling_ || static_cast<int>(ready_.size()) >= target_) return;
      refilling_ = true;
    }
    ReadyPool* self = this;
    auto job = [self] { self->refill(); };
    BlockingPool::global().submit(std::move(job));
  }
  // Runs with refilling_ set; clears it.
  void refill() {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (!on_locked() || static_cast<int>(ready_.size()) >= target_) break;
      }
      Result<T> made = make_();
      std::lock_guard lock(mu_);
      if (!made) {
        log::warn(what_, " pool: ", made.error().message, "; made when needed from now on");
        broken_ = true;
        break;
      }
      ready_.push_back(std::move(*made));
    }
    std::lock_guard lock(mu_);
    refilling_ = false;
    idle_.notify_all();
  }

  const std::string what_;
  const int target_;
  const std::function<Result<T>()> make_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::vector<T> ready_;
  bool refilling_ = false;
  bool broken_ = false;
  bool stopped_ = false;
};

}  // namespace berth::io
