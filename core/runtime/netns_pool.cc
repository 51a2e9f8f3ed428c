#include "core/runtime/netns_pool.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/base/log.h"

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

}  // namespace berth::core::runtime
