#include "core/runtime/netns_pool.h"

#include <fcntl.h>
#include <sched.h>

#include <cerrno>
#include <cstring>

#include "core/base/log.h"
#include "core/runtime/spawn.h"

namespace berth::core::runtime {

Result<unique_fd> make_network_namespace() {
  unique_fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return sys_fail(errno, "open this thread's network namespace");
  if (::unshare(CLONE_NEWNET) != 0) return sys_fail(errno, "unshare network namespace");
  auto made = [&]() -> Result<unique_fd> {
    if (loopback_up() != 0) return sys_fail(errno, "bring lo up in the new network namespace");
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

}  // namespace berth::core::runtime
