#include "io/pool.h"

#include <pthread.h>

#include <algorithm>

namespace berth::io {

BlockingPool::BlockingPool(int threads) {
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this, i] {
      char name[16];
      std::snprintf(name, sizeof name, "blocking-%d", i);
      pthread_setname_np(pthread_self(), name);
      worker();
    });
}

BlockingPool::~BlockingPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void BlockingPool::submit(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void BlockingPool::worker() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
  }
}

BlockingPool& BlockingPool::global() {
  // Leaked on purpose: helpers may still be finishing a call when exit()
  // runs static destructors.
  static BlockingPool* pool =
      new BlockingPool(std::max(4, static_cast<int>(std::thread::hardware_concurrency())));
  return *pool;
}

}  // namespace berth::io
