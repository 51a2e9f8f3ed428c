// NetnsPool: network namespaces made ahead of time, loopback up, for
// containers that get their own (network modes none, default, bridge). A new
// network namespace is the dearest part of a clone (about as much as all the
// other namespaces together); made here, on the blocking pool after a take,
// it is off the start's path: the container's child joins it with setns.
//
// Thread-safety: take() from any thread; refills run on the blocking pool.
// The destructor waits for a refill in flight.
#pragma once

#include <condition_variable>
#include <mutex>
#include <vector>

#include "core/base/error.h"
#include "core/base/unique_fd.h"

namespace berth::core::runtime {

// (blocking) A new network namespace with loopback up, as an fd (setns-able),
// made on the calling thread, which is back in its own namespace after.
Result<unique_fd> make_network_namespace();

class NetnsPool {
 public:
  // Keeps up to `target` ready; 0 turns the pool off (take() gives none).
  explicit NetnsPool(int target);
  ~NetnsPool();
  NetnsPool(const NetnsPool&) = delete;
  NetnsPool& operator=(const NetnsPool&) = delete;

  // A ready namespace, or an empty fd when none is (the caller makes its
  // own with CLONE_NEWNET). Starts a refill.
  unique_fd take();
  // (blocking) Fills the pool now (start-up).
  void fill();
  int ready() const;

 private:
  void refill_later();
  void refill();
  const int target_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::vector<unique_fd> ready_;
  bool refilling_ = false;
  bool broken_ = false;  // making one failed: stop trying, clones make their own
};

}  // namespace berth::core::runtime
