#include "core/runtime/netns_pool.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/base/log.h"
#include "io/pool.h"

namespace berth::core::runtime {

Result<unique_fd> make_network_namespace() {
  unique_fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return sys_fail(errno, "open this thread's network namespace");
  if (::unshare(CLONE_NEWNET) != 0) return sys_fail(errno, "unshare network namespace");
  auto made = [&]() -> Result<unique_fd> {
    unique_fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return sys_fail(errno, "socket in the new network namespace");
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, "lo", 3);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) return sys_fail(errno, "get lo flags");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) return sys_fail(errno, "bring lo up");
    unique_fd ns(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!ns) return sys_fail(errno, "open the new network namespace");
    return ns;
  }();
  // Back home whatever happened: this thread serves others next.
  if (::setns(home.get(), CLONE_NEWNET) != 0) {
    log::error("cannot return to the daemon's network namespace: ", std::strerror(errno));
    std::abort();
  }
  return made;
}

NetnsPool::NetnsPool(int target) : target_(target) {}

NetnsPool::~NetnsPool() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return !refilling_; });
}

int NetnsPool::ready() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(ready_.size());
}

unique_fd NetnsPool::take() {
  unique_fd fd;
  {
    std::lock_guard lock(mu_);
    if (target_ <= 0 || broken_) return fd;
    if (!ready_.empty()) {
      fd = std::move(ready_.back());
      ready_.pop_back();
    }
  }
  refill_later();
  return fd;
}

void NetnsPool::fill() {
  {
    std::lock_guard lock(mu_);
    if (target_ <= 0 || refilling_) return;
    refilling_ = true;
  }
  refill();
}

void NetnsPool::refill_later() {
  {
    std::lock_guard lock(mu_);
    if (refilling_ || broken_ || static_cast<int>(ready_.size()) >= target_) return;
    refilling_ = true;
  }
  NetnsPool* self = this;
  auto job = [self] { self->refill(); };
  io::BlockingPool::global().submit(std::move(job));
}

// Runs with refilling_ set; clears it at the end.
void NetnsPool::refill() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (static_cast<int>(ready_.size()) >= target_) break;
    }
    auto ns = make_network_namespace();
    std::lock_guard lock(mu_);
    if (!ns) {
      log::warn("network namespace pool: ", ns.error().message,
                "; containers make their own from now on");
      broken_ = true;
      break;
    }
    ready_.push_back(std::move(*ns));
  }
  std::lock_guard lock(mu_);
  refilling_ = false;
  idle_.notify_all();
}

}  // namespace berth::core::runtime
