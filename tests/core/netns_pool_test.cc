// Network namespaces made ahead of time: each is new (not the daemon's),
// has loopback up, and making one leaves the calling thread where it was;
// the pool hands out distinct ones, refills after a take, and gives none
// when turned off.
#include "core/runtime/netns_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "tests/testlib/testlib.h"

namespace berth::core::runtime {
namespace {

ino_t ns_inode(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

ino_t own_netns() {
  struct stat st {};
  return ::stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}

// lo's flags inside the namespace fd, read on a thread of its own (-1 on
// failure); the thread returns to the test's namespace before it ends.
int lo_flags_in(int nsfd) {
  int flags = -1;
  std::thread t([&] {
    unique_fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (::setns(nsfd, CLONE_NEWNET) != 0) return;
    unique_fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, "lo", 3);
    if (sock && ::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) == 0) flags = ifr.ifr_flags;
    (void)::setns(home.get(), CLONE_NEWNET);
  });
  t.join();
  return flags;
}

TEST(NetnsPool, MakesANewNamespaceWithLoopbackUp) {
  BERTH_REQUIRE_ROOT();
  ino_t before = own_netns();
  auto ns = make_network_namespace();
  ASSERT_TRUE(ns.has_value()) << ns.error().message;
  EXPECT_EQ(own_netns(), before) << "the calling thread did not return to its namespace";
  EXPECT_NE(ns_inode(ns->get()), before);
  int flags = lo_flags_in(ns->get());
  ASSERT_GE(flags, 0);
  EXPECT_TRUE(flags & IFF_UP);
}

TEST(NetnsPool, HandsOutDistinctNamespacesAndRefills) {
  BERTH_REQUIRE_ROOT();
  NetnsPool pool(3);
  pool.fill();
  EXPECT_EQ(pool.ready(), 3);
  std::set<ino_t> seen;
  std::vector<unique_fd> taken;
  for (int i = 0; i < 5; ++i) {  // more than it holds: some are made after a take
    unique_fd fd;
    for (int tries = 0; tries < 200 && !fd; ++tries) {  // bounded: 2 s
      fd = pool.take();
      if (!fd) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(fd) << "take " << i;
    EXPECT_TRUE(seen.insert(ns_inode(fd.get())).second) << "a namespace was handed out twice";
    EXPECT_NE(ns_inode(fd.get()), own_netns());
    taken.push_back(std::move(fd));
  }
  for (int tries = 0; tries < 200 && pool.ready() < 3; ++tries)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(pool.ready(), 3);
}

TEST(NetnsPool, OffGivesNone) {
  NetnsPool pool(0);
  pool.fill();
  EXPECT_EQ(pool.ready(), 0);
  EXPECT_FALSE(pool.take());
}

}  // namespace
}  // namespace berth::core::runtime
