// NetnsPool: network namespaces made ahead of time, loopback up, for
// containers that get their own (network modes none, default, bridge). A new
// network namespace is the dearest part of a clone (about as much as all the
// other namespaces together); made here, on the blocking pool after a take,
// it is off the start's path: the container's child joins it with setns.
//
// Thread-safety: as io::ReadyPool.
#pragma once

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "io/ready_pool.h"

namespace berth::core::runtime {

// (blocking) A new network namespace with loopback up, as an fd (setns-able),
// made on the calling thread, which is back in its own namespace after.
Result<unique_fd> make_network_namespace();

class NetnsPool {
 public:
  // Keeps up to `target` ready; 0 turns the pool off (take() gives none).
  explicit NetnsPool(int target) : pool_("network namespace", target, make_network_namespace) {}

  // A ready namespace, or an empty fd when none is (the caller makes its
  // own with CLONE_NEWNET). Starts a refill.
  unique_fd take() {
    auto fd = pool_.take();
    return fd ? std::move(*fd) : unique_fd();
  }
  // (blocking) Fills the pool now (start-up).
  void fill() { pool_.fill(); }
  int ready() const { return pool_.ready(); }

 private:
  io::ReadyPool<unique_fd> pool_;
};

}  // namespace berth::core::runtime
