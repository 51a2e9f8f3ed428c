// The v1 driver on the real kernel: needs root and a host with cgroup v1
// hierarchies (the dev machine is hybrid: v1 controllers, empty unified).
// Every cgroup lives under a unique test parent below this process's own
// cgroup, and the fixture removes it all, processes first, even on failure.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>

#include "core/cgroup/v1/manager.h"
#include "tests/core/cgroup_kernel_util.h"

namespace berth::core::cgroup {
namespace {

using namespace std::chrono_literals;
using namespace berth::testing::cgroup_kernel;
namespace fs = std::filesystem;

class V1Kernel : public KernelFixture {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    auto probe = Manager::detect();
    if (!probe) GTEST_SKIP() << "no cgroup hierarchy: " << probe.error().message;
    if ((*probe)->version() != Version::v1)
      GTEST_SKIP() << "not a cgroup v1 host (cgroup_v2_kernel_test covers v2)";
    hierarchies_ = v1::find_hierarchies(slurp("/proc/self/mountinfo"), slurp("/proc/self/cgroup"),
                                        "/sys/fs/cgroup");
    for (std::string_view need : {"memory", "pids", "freezer", "cpu", "cpuacct", "devices"})
      if (!dir_of(need, "").size()) GTEST_SKIP() << "no v1 " << need << " hierarchy";
    KernelFixture::SetUp();
    parent_ = unique_parent();
    for (const auto& h : hierarchies_)
      parent_homes_.push_back(h.own == "/" ? h.mount_point : h.mount_point + h.own);
    ManagerOptions o;
    o.parent = parent_;  // relative: below our own cgroup
    o.freeze_timeout = 5s;
    auto m = Manager::detect(o);
    ASSERT_TRUE(m) << m.error().message;
    manager_ = std::move(*m);
  }

  // The directory of cgroup `name` (below the test parent) in the hierarchy
  // of controller; "" when there is none. An empty name is the hierarchy.
  std::string dir_of(std::string_view controller, const std::string& name) const {
    for (const auto& h : hierarchies_)
      for (const auto& c : h.controllers)
        if (c == controller) {
          if (name.empty()) return h.mount_point;
          std::string own = h.own == "/" ? "" : h.own;
          return str_cat(h.mount_point, own, "/", parent_, "/", name);
        }
    return "";
  }

  Cgroup* create(const std::string& name, const Resources& r = {}) {
    auto c = manager_->create(name, r);
    EXPECT_TRUE(c) << c.error().message;
    return c ? keep(std::move(*c)) : nullptr;
  }

  std::vector<v1::Hierarchy> hierarchies_;
};

TEST_F(V1Kernel, ChildJoinsEveryHierarchyThroughProcsFds) {
  Cgroup* c = create("join");
  ASSERT_TRUE(c);
  Child ch = spawn(*c, child_pause);
  ASSERT_GT(ch.pid, 0);
  EXPECT_EQ(c->pids().value(), std::vector<pid_t>{ch.pid});
  // /proc/PID/cgroup: in every hierarchy we manage, below the test parent.
  std::string mine = slurp(str_cat("/proc/", ch.pid, "/cgroup"));
  int found = 0;
  for (std::string_view line : split(mine, '\n')) {
    auto parts = split(line, ':');
    if (parts.size() < 3) continue;
    for (const auto& h : hierarchies_)
      if (split(parts[1], ',')[0] == h.controllers[0]) {
        EXPECT_TRUE(parts[2].ends_with(str_cat("/", parent_, "/join"))) << line;
        ++found;
      }
  }
  EXPECT_EQ(found, static_cast<int>(hierarchies_.size())) << mine;
  EXPECT_TRUE(contains(mine, str_cat("memory:", c->path()))) << mine;
  EXPECT_FALSE(c->clone_dir_fd().value());
}

TEST_F(V1Kernel, MemoryLimitOomKillsAndIsReported) {
  Resources r;
  r.memory = 32 << 20;
  if (fs::exists(dir_of("memory", "") + "/memory.memsw.limit_in_bytes")) r.memory_swap = 32 << 20;
  Cgroup* c = create("oom", r);
  ASSERT_TRUE(c);
  EXPECT_EQ(slurp(dir_of("memory", "oom") + "/memory.limit_in_bytes"), "33554432\n");
  auto events = c->oom_event_fd();
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_EQ(c->oom_kill_count().value(), 0u);

  Child ch = spawn(*c, [](int) { return child_alloc(512); });
  ASSERT_GT(ch.pid, 0);
  int status = wait_child(ch.pid, 60s);
  ASSERT_NE(status, -1) << "the child outlived the memory limit";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  pollfd p{events->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "no OOM event";
  uint64_t n = 0;
  EXPECT_EQ(::read(events->get(), &n, sizeof n), static_cast<ssize_t>(sizeof n));
  EXPECT_GE(n, 1u);
  EXPECT_GE(c->oom_kill_count().value(), 1u);
}

TEST_F(V1Kernel, PidsMaxStopsAForkBomb) {
  Resources r;
  r.pids_limit = 8;
  Cgroup* c = create("pids", r);
  ASSERT_TRUE(c);
  EXPECT_EQ(slurp(dir_of("pids", "pids") + "/pids.max"), "8\n");
  Child ch = spawn(*c, [](int report) {
    int made = 0;
    for (int i = 0; i < 200; ++i) {  // bounded, whatever happens
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
  EXPECT_EQ(made[0], 7) << "8 tasks: the child and 7 forks";
  auto s = c->stats();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->pids_current, 8u);
  EXPECT_EQ(s->pids_limit, std::optional<uint64_t>(8));
  EXPECT_EQ(c->pids().value().size(), 8u);
}

TEST_F(V1Kernel, FreezeStopsABusyChildAndThawResumesIt) {
  Cgroup* c = create("freeze");
  ASSERT_TRUE(c);
  Child ch = spawn(*c, child_spin);
  ASSERT_GT(ch.pid, 0);
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(c->freeze());
  EXPECT_EQ(slurp(dir_of("freezer", "freeze") + "/freezer.state"), "FROZEN\n");
  uint64_t t0 = cpu_ticks(ch.pid);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(cpu_ticks(ch.pid), t0) << "a frozen child ran";
  ASSERT_TRUE(c->thaw());
  EXPECT_EQ(slurp(dir_of("freezer", "freeze") + "/freezer.state"), "THAWED\n");
  std::this_thread::sleep_for(300ms);
  EXPECT_GT(cpu_ticks(ch.pid), t0) << "a thawed child did not run";
}

TEST_F(V1Kernel, UpdateChangesLimitsAndRefusalsAreInvalidArgument) {
  Resources r;
  r.memory = 64 << 20;
  Cgroup* c = create("update", r);
  ASSERT_TRUE(c);
  Resources u;
  u.memory = 48 << 20;
  u.pids_limit = 20;
  u.cpu_shares = 512;
  u.nano_cpus = 500000000;
  ASSERT_TRUE(c->update(u));
  EXPECT_EQ(slurp(dir_of("memory", "update") + "/memory.limit_in_bytes"), "50331648\n");
  EXPECT_EQ(slurp(dir_of("pids", "update") + "/pids.max"), "20\n");
  EXPECT_EQ(slurp(dir_of("cpu", "update") + "/cpu.shares"), "512\n");
  EXPECT_EQ(slurp(dir_of("cpu", "update") + "/cpu.cfs_quota_us"), "50000\n");
  EXPECT_EQ(slurp(dir_of("cpu", "update") + "/cpu.cfs_period_us"), "100000\n");

  // A cpuset outside the parent's.
  Resources cs;
  cs.cpuset_cpus = "4095";
  auto bad = c->update(cs);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_TRUE(contains(bad.error().message, "write cpuset.cpus=4095 in ")) << bad.error().message;

  // A memory limit below what is in use (the kernel cannot reclaim
  // anonymous memory without swap, and says EBUSY).
  if (!swap_total_is_zero()) GTEST_SKIP() << "swap present: the kernel would swap out instead";
  Child ch = spawn(*c, [](int report) {
    child_alloc(24);
    if (::write(report, "a", 1) != 1) return 1;
    child_pause(0);
    return 0;
  });
  ASSERT_EQ(read_for(ch.report.get(), 1, 10s), "a");
  Resources low;
  low.memory = 4 << 20;
  auto refused = c->update(low);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  EXPECT_TRUE(contains(refused.error().message,
                       "write memory.limit_in_bytes=4194304 in " + dir_of("memory", "update")))
      << refused.error().message;
}

TEST_F(V1Kernel, DeviceRulesConfineTheChild) {
  Cgroup* c = create("devices");
  ASSERT_TRUE(c);
  EXPECT_EQ(slurp(dir_of("devices", "devices") + "/devices.list").find("a *:* rwm"),
            std::string::npos);
  testing::TempDir tmp("berth-cgroup-dev");
  std::string null = tmp / "null", mem = tmp / "mem", tun = tmp / "tun";
  Child ch = spawn(*c, [&](int report) {
    // One byte per check: 0 = allowed, else errno.
    auto say = [&](int v) {
      char b = static_cast<char>(v);
      return ::write(report, &b, 1) == 1;
    };
    int fd = ::open("/dev/null", O_RDWR);
    say(fd >= 0 ? 0 : errno);
    // A node of our own, to tell a nodev temp dir from the cgroup's no.
    fd = ::mknod(null.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0 ? ::open(null.c_str(), O_RDWR)
                                                                   : -1;
    say(fd >= 0 ? 0 : errno);
    say(::mknod(mem.c_str(), S_IFCHR | 0600, makedev(1, 1)) == 0 ? 0 : errno);  // m: allowed
    fd = ::open(mem.c_str(), O_RDONLY);
    say(fd >= 0 ? 0 : errno);  // r on 1:1: denied
    say(::mknod(tun.c_str(), S_IFCHR | 0600, makedev(10, 200)) == 0 ? 0 : errno);
    fd = ::open(tun.c_str(), O_RDWR);
    say(fd >= 0 ? 0 : errno);  // tun not asked for: denied
    child_pause(0);
    return 0;
  });
  std::string got = read_for(ch.report.get(), 6, 10s);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0], 0) << "/dev/null";
  if (got[1] == EACCES) GTEST_SKIP() << tmp.path() << " is on a nodev mount";
  EXPECT_EQ(got[1], 0) << "mknod + open c 1:3";
  EXPECT_EQ(got[2], 0) << "mknod";
  EXPECT_EQ(got[3], EPERM) << "open c 1:1";
  EXPECT_EQ(got[4], 0) << "mknod tun";
  EXPECT_EQ(got[5], EPERM) << "open c 10:200";
}

TEST_F(V1Kernel, KillAllKillsTheWholeTree) {
  Cgroup* c = create("kill");
  ASSERT_TRUE(c);
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
  // The grandchildren (ours as subreaper) go too.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!c->pids().value().empty() && std::chrono::steady_clock::now() < deadline) {
    int st;
    ::waitpid(-1, &st, WNOHANG);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(c->pids().value().empty());
}

TEST_F(V1Kernel, StatsSeeTheChild) {
  Cgroup* c = create("stats");
  ASSERT_TRUE(c);
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
  EXPECT_GE(s->memory_usage, 16u << 20);
  EXPECT_GE(s->memory_max_usage.value_or(0), s->memory_usage);
  EXPECT_EQ(s->memory_limit, std::nullopt);
  EXPECT_EQ(s->pids_current, 1u);
  EXPECT_GE(s->cpu_usage_ns, 50'000'000u);
  EXPECT_FALSE(s->cpu_per_cpu_ns.empty());
  EXPECT_FALSE(s->memory_stat.empty());
}

TEST_F(V1Kernel, DestroyLeavesNothingInAnyHierarchy) {
  Cgroup* c = create("gone");
  ASSERT_TRUE(c);
  Child ch = spawn(*c, child_pause);
  ASSERT_GT(ch.pid, 0);
  // A cgroup the container made below its own.
  ASSERT_EQ(::mkdir((dir_of("memory", "gone") + "/inner").c_str(), 0755), 0);
  std::vector<std::string> dirs = c->dirs();
  EXPECT_EQ(dirs.size(), hierarchies_.size());
  ASSERT_TRUE(c->kill_all(SIGKILL));
  wait_child(ch.pid, 10s);
  auto d = c->destroy();
  ASSERT_TRUE(d) << d.error().message;
  for (const std::string& dir : dirs) EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_EQ(manager_->list().value(), std::vector<std::string>{});
}

TEST_F(V1Kernel, DestroyOfABusyCgroupFailsAfterRetrying) {
  Cgroup* c = create("busy");
  ASSERT_TRUE(c);
  Child ch = spawn(*c, child_pause);
  ASSERT_GT(ch.pid, 0);
  auto d = c->destroy();  // a process is inside: EBUSY until busy_timeout
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().sys_errno, EBUSY) << d.error().message;
  EXPECT_TRUE(contains(d.error().message, "rmdir ")) << d.error().message;
}

// Spares: made ahead with docker's device rules, renamed to the container's
// name at create, made again after; not listed; a crashed daemon's of the
// same tag are removed at start, another tag's are left alone; gone with
// the manager.
TEST_F(V1Kernel, SparesBecomeContainersAndAreMadeAgain) {
  ASSERT_TRUE(create("first"));  // the parent, in every hierarchy
  auto spares_of = [&](const std::string& tag) {
    int n = 0;
    std::error_code ec;
    std::string parent_dir = dir_of("memory", "first");
    parent_dir.resize(parent_dir.size() - 6);  // without "/first"
    for (auto& e : fs::directory_iterator(parent_dir, ec))
      if (e.path().filename().string().starts_with(".spare-" + tag + "-")) ++n;
    return n;
  };
  for (const auto& h : hierarchies_) {
    std::string own = h.own == "/" ? "" : h.own;
    for (const char* n : {".spare-t1-stale", ".spare-t2-other"})
      ASSERT_EQ(::mkdir(str_cat(h.mount_point, own, "/", parent_, "/", n).c_str(), 0755), 0);
  }
  ManagerOptions o;
  o.parent = parent_;
  o.spares = 2;
  o.spare_tag = "t1";
  auto m = Manager::detect(o);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_FALSE(fs::exists(dir_of("memory", ".spare-t1-stale")));
  EXPECT_TRUE(fs::exists(dir_of("memory", ".spare-t2-other")));
  EXPECT_EQ(spares_of("t1"), 2);
  EXPECT_EQ((*m)->list().value(), std::vector<std::string>{"first"});

  auto c = (*m)->create("fromspare", {});
  ASSERT_TRUE(c) << c.error().message;
  Cgroup* cg = keep(std::move(*c));
  for (const auto& h : hierarchies_) {
    std::string own = h.own == "/" ? "" : h.own;
    EXPECT_TRUE(fs::is_directory(str_cat(h.mount_point, own, "/", parent_, "/fromspare")))
        << h.mount_point;
  }
  std::string rules = slurp(dir_of("devices", "fromspare") + "/devices.list");
  EXPECT_EQ(rules.find("a *:* rwm"), std::string::npos) << rules;
  EXPECT_NE(rules.find("c 1:3 rwm"), std::string::npos) << rules;
  EXPECT_NE(trim(slurp(dir_of("cpuset", "fromspare") + "/cpuset.cpus")), "");
  Child ch = spawn(*cg, child_pause);
  ASSERT_GT(ch.pid, 0);
  EXPECT_EQ(cg->pids().value(), std::vector<pid_t>{ch.pid});
  // Made again on the blocking pool (bounded: 5 s).
  for (int i = 0; i < 500 && spares_of("t1") < 2; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(spares_of("t1"), 2);

  // Limits still apply to a spare; a privileged device rule never takes one.
  Resources lim;
  lim.memory = 64 << 20;
  auto l = (*m)->create("limited", lim);
  ASSERT_TRUE(l) << l.error().message;
  keep(std::move(*l));
  EXPECT_EQ(trim(slurp(dir_of("memory", "limited") + "/memory.limit_in_bytes")), "67108864");
  Resources priv;
  priv.devices.push_back(DeviceRule::all(true));
  auto p = (*m)->create("privileged", priv);
  ASSERT_TRUE(p) << p.error().message;
  keep(std::move(*p));
  EXPECT_NE(slurp(dir_of("devices", "privileged") + "/devices.list").find("a *:* rwm"),
            std::string::npos);
  // A name that exists is a conflict, and costs no spare's directory.
  auto dup = (*m)->create("limited", {});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().sys_errno, EEXIST) << dup.error().message;
  EXPECT_EQ((*m)->list().value(),
            (std::vector<std::string>{"first", "fromspare", "limited", "privileged"}));

  for (int i = 0; i < 500 && spares_of("t1") < 2; ++i) std::this_thread::sleep_for(10ms);
  m->reset();
  EXPECT_EQ(spares_of("t1"), 0);
  EXPECT_TRUE(fs::exists(dir_of("memory", ".spare-t2-other")));
}

}  // namespace
}  // namespace berth::core::cgroup
