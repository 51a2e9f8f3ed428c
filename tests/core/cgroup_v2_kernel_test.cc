// The v2 driver on the real kernel: needs root and a cgroup2 mount. On a
// pure v2 host that is /sys/fs/cgroup; on a hybrid host (the dev machine)
// the unified mount, where the core features work (join, clone into,
// freeze, kill, the eBPF device filter, destroy) but no controller is
// offered, so the memory, pids and CPU tests skip with that reason.
//
// Containers' cgroups go under a unique test parent below this process's
// own cgroup. If no controllers can be enabled there (our cgroup holds
// processes, so the kernel refuses), the tests that need them move the
// parent to the hierarchy root, where the kernel allows it.
#include <linux/sched.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <filesystem>

#include "core/cgroup/hierarchy.h"
#include "core/cgroup/v2/manager.h"
#include "tests/core/cgroup_kernel_util.h"

namespace berth::core::cgroup {
namespace {

using namespace std::chrono_literals;
using namespace berth::testing::cgroup_kernel;
namespace fs = std::filesystem;

class V2Kernel : public KernelFixture {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    std::string mountinfo = slurp("/proc/self/mountinfo");
    auto u = v2::find_unified(mountinfo, slurp("/proc/self/cgroup"), "/sys/fs/cgroup");
    if (!u) GTEST_SKIP() << "no cgroup2 mount at or below /sys/fs/cgroup";
    unified_ = *u;
    KernelFixture::SetUp();
    parent_ = unique_parent();
    parent_homes_.push_back(unified_.own == "/" ? unified_.mount_point
                                                : unified_.mount_point + unified_.own);
    parent_homes_.push_back(unified_.mount_point);
    use_parent(parent_);
  }

  void use_parent(const std::string& parent) {
    ManagerOptions o;
    o.cgroup_root = unified_.mount_point;
    o.parent = parent;
    o.freeze_timeout = 5s;
    auto m = Manager::detect(o);
    ASSERT_TRUE(m) << m.error().message;
    ASSERT_EQ((*m)->version(), Version::v2);
    manager_ = std::move(*m);
  }

  std::string offered(const std::string& dir) {
    return std::string(trim(slurp(dir + "/cgroup.controllers")));
  }

  // Creates cgroup name where `controllers` are offered to it, or skips.
  Cgroup* create(const std::string& name, const Resources& r = {},
                 std::vector<std::string> controllers = {}) {
    auto has_all = [&](const std::string& have) {
      auto words = split(have, ' ');
      for (const auto& c : controllers)
        if (std::find(words.begin(), words.end(), c) == words.end()) return false;
      return true;
    };
    if (!controllers.empty()) {
      auto probe = manager_->create("probe", {});
      if (!probe) {
        ADD_FAILURE() << probe.error().message;
        return nullptr;
      }
      std::string have = offered((*probe)->dirs()[0]);
      EXPECT_TRUE((*probe)->destroy());
      if (!has_all(have)) {
        std::string at_root = offered(unified_.mount_point);
        if (!has_all(at_root)) {
          skip_ = str_cat("the cgroup2 hierarchy at ", unified_.mount_point, " offers '", at_root,
                          "', not all of ", join(controllers, " "),
                          " (on a hybrid host they are on v1)");
          return nullptr;
        }
        use_parent("/" + parent_);
        auto again = manager_->create("probe", {});
        if (!again) {
          ADD_FAILURE() << again.error().message;
          return nullptr;
        }
        have = offered((*again)->dirs()[0]);
        EXPECT_TRUE((*again)->destroy());
        if (!has_all(have)) {
          skip_ = str_cat("cannot enable ", join(controllers, " "), " below ", unified_.mount_point,
                          " (have '", have, "')");
          return nullptr;
        }
      }
    }
    auto c = manager_->create(name, r);
    EXPECT_TRUE(c) << c.error().message;
    return c ? keep(std::move(*c)) : nullptr;
  }

  v2::Unified unified_;
  std::string skip_;
};

#define CREATE_OR_SKIP(var, ...)                     \
  Cgroup* var = create(__VA_ARGS__);                 \
  if (!var && !skip_.empty()) GTEST_SKIP() << skip_; \
  ASSERT_TRUE(var)

TEST_F(V2Kernel, ChildJoinsThroughProcsFd) {
  CREATE_OR_SKIP(c, "join");
  Child ch = spawn(*c, child_pause);
  ASSERT_GT(ch.pid, 0);
  EXPECT_EQ(c->pids().value(), std::vector<pid_t>{ch.pid});
  EXPECT_TRUE(contains(slurp(str_cat("/proc/", ch.pid, "/cgroup")), str_cat("0::", c->path())))
      << slurp(str_cat("/proc/", ch.pid, "/cgroup"));
  EXPECT_EQ(c->procs_fds().value().size(), 1u);
}

TEST_F(V2Kernel, Clone3IntoTheCgroup) {
  CREATE_OR_SKIP(c, "clone3");
  auto fd = c->clone_dir_fd();
  ASSERT_TRUE(fd && *fd) << (fd ? "empty fd" : fd.error().message);
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(fd->get());
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL))
    GTEST_SKIP() << "no clone3 CLONE_INTO_CGROUP (Linux 5.7+)";
  if (pid == 0) child_pause(0);
  ASSERT_GT(pid, 0) << strerror(errno);
  children_.push_back(static_cast<pid_t>(pid));
  EXPECT_EQ(c->pids().value(), std::vector<pid_t>{static_cast<pid_t>(pid)});
}

TEST_F(V2Kernel, DeviceFilterConfinesTheChild) {
  CREATE_OR_SKIP(c, "devices");
  testing::TempDir tmp("berth-cgroup-dev");
  std::string null = tmp / "null", mem = tmp / "mem", tun = tmp / "tun";
  Child ch = spawn(*c, [&](int report) {
    auto say = [&](int v) {
      char b = static_cast<char>(v);
      return ::write(report, &b, 1) == 1;
    };
    int fd = ::open("/dev/null", O_RDWR);
    say(fd >= 0 ? 0 : errno);
    fd = ::mknod(null.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0 ? ::open(null.c_str(), O_RDWR)
                                                                   : -1;
    say(fd >= 0 ? 0 : errno);
    say(::mknod(mem.c_str(), S_IFCHR | 0600, makedev(1, 1)) == 0 ? 0 : errno);
    fd = ::open(mem.c_str(), O_RDONLY);
    say(fd >= 0 ? 0 : errno);
    say(::mknod(tun.c_str(), S_IFCHR | 0600, makedev(10, 200)) == 0 ? 0 : errno);
    fd = ::open(tun.c_str(), O_RDWR);
    say(fd >= 0 ? 0 : errno);
    fd = ::open("/dev/urandom", O_RDONLY);
    say(fd >= 0 ? 0 : errno);
    child_pause(0);
    return 0;
  });
  std::string got = read_for(ch.report.get(), 7, 10s);
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got[0], 0) << "/dev/null";
  if (got[1] == EACCES) GTEST_SKIP() << tmp.path() << " is on a nodev mount";
  EXPECT_EQ(got[1], 0) << "mknod + open c 1:3";
  EXPECT_EQ(got[2], 0) << "mknod c 1:1";
  EXPECT_EQ(got[3], EPERM) << "open c 1:1";
  EXPECT_EQ(got[4], 0) << "mknod tun";
  EXPECT_EQ(got[5], EPERM) << "open c 10:200";
  EXPECT_EQ(got[6], 0) << "/dev/urandom";
}

TEST_F(V2Kernel, PrivilegedGetsEveryDevice) {
  Resources r;
  r.devices.push_back(DeviceRule::all(true));
  CREATE_OR_SKIP(c, "privileged", r);
  testing::TempDir tmp("berth-cgroup-dev");
  std::string kmsg = tmp / "kmsg";  // c 1:11: not in docker's list, present everywhere
  Child ch = spawn(*c, [&](int report) {
    int fd = ::mknod(kmsg.c_str(), S_IFCHR | 0600, makedev(1, 11)) == 0
                 ? ::open(kmsg.c_str(), O_WRONLY)
                 : -1;
    char b = static_cast<char>(fd >= 0 ? 0 : errno);
    if (::write(report, &b, 1) != 1) return 1;
    child_pause(0);
    return 0;
  });
  std::string got = read_for(ch.report.get(), 1, 10s);
  ASSERT_EQ(got.size(), 1u);
  if (got[0] == EACCES) GTEST_SKIP() << tmp.path() << " is on a nodev mount";
  EXPECT_EQ(got[0], 0);
}

TEST_F(V2Kernel, FreezeStopsABusyChildAndThawResumesIt) {
  CREATE_OR_SKIP(c, "freeze");
  Child ch = spawn(*c, child_spin);
  ASSERT_GT(ch.pid, 0);
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(c->freeze());
  std::string dir = c->dirs()[0];
  EXPECT_EQ(slurp(dir + "/cgroup.freeze"), "1\n");
  EXPECT_TRUE(contains(slurp(dir + "/cgroup.events"), "frozen 1"));
  uint64_t t0 = cpu_ticks(ch.pid);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(cpu_ticks(ch.pid), t0) << "a frozen child ran";
  ASSERT_TRUE(c->thaw());
  EXPECT_TRUE(contains(slurp(dir + "/cgroup.events"), "frozen 0"));
  std::this_thread::sleep_for(300ms);
  EXPECT_GT(cpu_ticks(ch.pid), t0) << "a thawed child did not run";
}

TEST_F(V2Kernel, KillAllKillsTheWholeTree) {
  CREATE_OR_SKIP(c, "kill");
  Child ch = spawn(*c, [](int report) {
    for (int i = 0; i < 3; ++i)
      if (::fork() == 0) child_pause(0);
    if (::write(report, "f", 1) != 1) return 1;
    child_pause(0);
    return 0;
  });
  ASSERT_EQ(read_for(ch.report.get(), 1, 10s), "f");
  EXPECT_EQ(c->pids().value().size(), 4u);
  ASSERT_TRUE(c->kill_all(SIGKILL));
  int status = wait_child(ch.pid, 10s);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!c->pids().value().empty() && std::chrono::steady_clock::now() < deadline) {
    int st;
    ::waitpid(-1, &st, WNOHANG);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(c->pids().value().empty());
}

TEST_F(V2Kernel, DestroyLeavesNothing) {
  CREATE_OR_SKIP(c, "gone");
  Child ch = spawn(*c, child_pause);
  ASSERT_GT(ch.pid, 0);
  std::string dir = c->dirs()[0];
  ASSERT_EQ(::mkdir((dir + "/inner").c_str(), 0755), 0);
  ASSERT_TRUE(c->kill_all(SIGKILL));
  wait_child(ch.pid, 10s);
  auto d = c->destroy();
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(manager_->list().value(), std::vector<std::string>{});
}

TEST_F(V2Kernel, MemoryLimitOomKillsAndMemoryEventsSaysSo) {
  Resources r;
  r.memory = 32 << 20;
  CREATE_OR_SKIP(c, "oom", r, {"memory"});
  std::string dir = c->dirs()[0];
  EXPECT_EQ(slurp(dir + "/memory.max"), "33554432\n");
  if (fs::exists(dir + "/memory.swap.max")) {
    Resources s;
    s.memory_swap = 32 << 20;  // no swap at all
    ASSERT_TRUE(c->update(s));
    EXPECT_EQ(slurp(dir + "/memory.swap.max"), "0\n");
  }
  auto events = c->oom_event_fd();
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_EQ(c->oom_kill_count().value(), 0u);
  Child ch = spawn(*c, [](int) { return child_alloc(512); });
  ASSERT_GT(ch.pid, 0);
  int status = wait_child(ch.pid, 60s);
  ASSERT_NE(status, -1) << "the child outlived the memory limit";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  pollfd p{events->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "no memory.events change";
  EXPECT_GE(c->oom_kill_count().value(), 1u);
}

TEST_F(V2Kernel, PidsMaxStopsAForkBomb) {
  Resources r;
  r.pids_limit = 8;
  CREATE_OR_SKIP(c, "pids", r, {"pids"});
  EXPECT_EQ(slurp(c->dirs()[0] + "/pids.max"), "8\n");
  Child ch = spawn(*c, [](int report) {
    int made = 0;
    for (int i = 0; i < 200; ++i) {
      pid_t p = ::fork();
      if (p == 0) child_pause(0);
      if (p < 0) break;
      ++made;
    }
    char b = static_cast<char>(made);
    if (::write(report, &b, 1) != 1) return 1;
    child_pause(0);
    return 0;
  });
  ASSERT_GT(ch.pid, 0);
  std::string made = read_for(ch.report.get(), 1, 20s);
  ASSERT_EQ(made.size(), 1u) << "the fork bomb did not stop";
  EXPECT_EQ(made[0], 7);
  auto s = c->stats();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->pids_current, 8u);
  EXPECT_EQ(s->pids_limit, std::optional<uint64_t>(8));
}

TEST_F(V2Kernel, UpdateChangesLimits) {
  CREATE_OR_SKIP(c, "update", {}, {"memory", "pids", "cpu"});
  Resources u;
  u.memory = 48 << 20;
  u.pids_limit = 20;
  u.cpu_shares = 512;
  u.nano_cpus = 500000000;
  ASSERT_TRUE(c->update(u));
  std::string dir = c->dirs()[0];
  EXPECT_EQ(slurp(dir + "/memory.max"), "50331648\n");
  EXPECT_EQ(slurp(dir + "/pids.max"), "20\n");
  EXPECT_EQ(slurp(dir + "/cpu.weight"), str_cat(cpu_shares_to_weight(512), "\n"));
  EXPECT_EQ(slurp(dir + "/cpu.max"), "50000 100000\n");
  Resources bad;
  bad.cpu_quota = 10;  // below the kernel's 1 ms minimum
  auto r = c->update(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_TRUE(contains(r.error().message, "write cpu.max=10 in ")) << r.error().message;
}

TEST_F(V2Kernel, StatsSeeTheChild) {
  CREATE_OR_SKIP(c, "stats");
  Child ch = spawn(*c, [](int report) {
    child_alloc(16);
    child_burn_cpu(100ms);
    if (::write(report, "r", 1) != 1) return 1;
    child_pause(0);
    return 0;
  });
  ASSERT_EQ(read_for(ch.report.get(), 1, 10s), "r");
  auto s = c->stats();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_GE(s->cpu_usage_ns, 50'000'000u);  // cpu.stat is there without controllers
  if (fs::exists(c->dirs()[0] + "/memory.current")) {
    EXPECT_GE(s->memory_usage, 16u << 20);
    EXPECT_FALSE(s->memory_stat.empty());
  }
}

}  // namespace
}  // namespace berth::core::cgroup
