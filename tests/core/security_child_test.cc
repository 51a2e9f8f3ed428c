// The *_in_child functions of caps.h, user.h and seccomp.h run in a
// vfork-like child that shares the daemon's memory: they must not allocate.
// This test binary counts every heap allocation (it interposes malloc and
// friends, forwarding to glibc's) and runs the functions in a
// clone(CLONE_VM | CLONE_VFORK) child on a small stack with a guard page.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "core/runtime/caps.h"
#include "core/runtime/seccomp.h"
#include "core/runtime/seccomp_cache.h"
#include "core/runtime/user.h"
#include "tests/testlib/testlib.h"

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<bool> g_armed{false};
std::atomic<long> g_allocations{0};

inline void count() {
  if (g_armed.load(std::memory_order_relaxed))
    g_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void free(void* p) {
  if (p) count();
  __libc_free(p);
}
void* calloc(size_t n, size_t size) {
  count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* memalign(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}
void* aligned_alloc(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  count();
  void* p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(size_t n) {
  count();
  return __libc_memalign(static_cast<size_t>(::sysconf(_SC_PAGESIZE)), n);
}
}

namespace berth::core::runtime {
namespace {

struct ChildWork {
  const SeccompProgram* program;
  const CapSets* caps;
  const ExecUser* user;
  int results[4] = {-1, -1, -1, -1};
  bool done = false;
};

// The order spawn uses without no_new_privs: the filter while CAP_SYS_ADMIN
// is still there, then the bounding set, the user, the final sets.
int child_main(void* arg) {
  auto* w = static_cast<ChildWork*>(arg);
  g_armed.store(true, std::memory_order_relaxed);
  w->results[0] = apply_in_child(*w->program);
  w->results[1] = drop_bounding_in_child(*w->caps);
  w->results[2] = apply_in_child(*w->user);
  w->results[3] = set_in_child(*w->caps);
  g_armed.store(false, std::memory_order_relaxed);
  w->done = true;
  return 0;
}

// Runs child_main on a stack_size stack (plus a guard page); returns the
// wait status.
int run_vfork_child(ChildWork& work, size_t stack_size) {
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t len = stack_size + page;
  void* map =
      ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return -1;
  ::mprotect(map, page, PROT_NONE);  // the guard below the stack
  char* top = static_cast<char*>(map) + len;
  pid_t pid = ::clone(child_main, top, CLONE_VM | CLONE_VFORK | SIGCHLD, &work);
  int status = -1;
  if (pid > 0)
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  ::munmap(map, len);
  return status;
}

TEST(SecurityChild, CountingWorks) {
  g_allocations = 0;
  g_armed = true;
  void* (*volatile m)(size_t) = ::malloc;
  void (*volatile f)(void*) = ::free;
  f(m(32));
  g_armed = false;
  EXPECT_EQ(g_allocations.load(), 2);
}

void check_no_heap(uid_t uid, std::vector<gid_t> groups) {
  const auto& host = CapabilityHost::current();
  CapMask caps = default_capabilities() & host.available;
  auto program = SeccompCache::shared().get("", caps);
  ASSERT_TRUE(program) << program.error().message;
  CapSets sets = container_cap_sets(caps, uid, host);
  ExecUser user{uid, static_cast<gid_t>(uid), std::move(groups), "/"};

  ChildWork work{program->get(), &sets, &user};
  g_allocations = 0;
  int status = run_vfork_child(work, 16 * 1024);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  ASSERT_TRUE(work.done);
  EXPECT_EQ(work.results[0], 0) << "seccomp";
  EXPECT_EQ(work.results[1], 0) << "bounding";
  EXPECT_EQ(work.results[2], 0) << "user";
  EXPECT_EQ(work.results[3], 0) << "capset";
  EXPECT_EQ(g_allocations.load(), 0) << "the child allocated";
  // The parent's credentials are its own (the child changed only its task's).
  EXPECT_EQ(::geteuid(), 0u);
  EXPECT_EQ(::prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN), 1);
}

TEST(SecurityChild, NoHeapAsRoot) {
  BERTH_REQUIRE_ROOT();
  check_no_heap(0, {0, 1, 2});
}

TEST(SecurityChild, NoHeapAsNonRoot) {
  BERTH_REQUIRE_ROOT();
  check_no_heap(65534, {65534, 100});
}

}  // namespace
}  // namespace berth::core::runtime
