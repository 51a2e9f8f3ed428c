// The cgroup layer on fake cgroupfs trees (no root, no kernel needed): a
// conformance suite run against both drivers, then what is particular to
// each (the exact files and values written), detection, and the pure parts
// (paths, device rules, conversions).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include "core/cgroup/hierarchy.h"
#include "core/cgroup/manager.h"
#include "core/cgroup/resources.h"
#include "core/cgroup/v1/manager.h"
#include "core/cgroup/v2/manager.h"
#include "tests/core/cgroup_fake.h"

namespace berth::core::cgroup {
namespace {

using testing::cgroup_fake::exists;
using testing::cgroup_fake::read_file;
using testing::cgroup_fake::V1Options;
using testing::cgroup_fake::V1Tree;
using testing::cgroup_fake::V2Options;
using testing::cgroup_fake::V2Tree;
using testing::cgroup_fake::write_file;
namespace fs = std::filesystem;

std::string trimmed(const std::string& path) {
  return std::string(trim(read_file(path)));
}

// ---- the conformance suite: both drivers, same contract --------------------

// One driver on its fake tree, seen through what the suite needs to know.
class Fake {
 public:
  virtual ~Fake() = default;
  virtual ManagerOptions options(std::string parent = "") = 0;
  virtual Version version() const = 0;
  // The daemon's own cgroup dir in each hierarchy.
  virtual std::vector<std::string> own_dirs() const = 0;
  // The hierarchy root dirs.
  virtual std::vector<std::string> roots() const = 0;
  virtual void set_freeze_stuck(bool stuck) = 0;
  virtual std::vector<std::string> values_of(const std::string& suffix) = 0;
  // Writes what the kernel would show for an OOM kill count of n.
  virtual void set_oom_kills(const std::string& dir, int n) = 0;
  virtual std::string frozen_state(const std::string& dir) = 0;
  virtual void refuse(const std::string& suffix, int err) = 0;
};

class FakeV1 : public Fake {
 public:
  ManagerOptions options(std::string parent) override { return tree_.options(std::move(parent)); }
  Version version() const override { return Version::v1; }
  std::vector<std::string> own_dirs() const override {
    std::vector<std::string> out;
    for (const auto& mp : tree_.mount_points()) out.push_back(tree_.own_dir(mp));
    return out;
  }
  std::vector<std::string> roots() const override { return tree_.mount_points(); }
  void set_freeze_stuck(bool s) override { tree_.kernel().set_freeze_stuck(s); }
  std::vector<std::string> values_of(const std::string& s) override {
    return tree_.kernel().values_of(s);
  }
  void set_oom_kills(const std::string& dir, int n) override {
    write_file(dir + "/memory.oom_control",
               str_cat("oom_kill_disable 0\nunder_oom 0\noom_kill ", n, "\n"));
  }
  std::string frozen_state(const std::string& dir) override {
    return trimmed(dir + "/freezer.state");
  }
  void refuse(const std::string& suffix, int err) override { tree_.kernel().refuse(suffix, err); }
  V1Tree tree_;
};

class FakeV2 : public Fake {
 public:
  ManagerOptions options(std::string parent) override { return tree_.options(std::move(parent)); }
  Version version() const override { return Version::v2; }
  std::vector<std::string> own_dirs() const override { return {tree_.own_dir()}; }
  std::vector<std::string> roots() const override { return {tree_.root()}; }
  void set_freeze_stuck(bool s) override { tree_.kernel().set_freeze_stuck(s); }
  std::vector<std::string> values_of(const std::string& s) override {
    return tree_.kernel().values_of(s);
  }
  void set_oom_kills(const std::string& dir, int n) override {
    write_file(dir + "/memory.events", str_cat("low 0\nhigh 0\nmax 3\noom 1\noom_kill ", n, "\n"));
  }
  std::string frozen_state(const std::string& dir) override {
    return trimmed(dir + "/cgroup.freeze") == "1" ? "FROZEN" : "THAWED";
  }
  void refuse(const std::string& suffix, int err) override { tree_.kernel().refuse(suffix, err); }
  V2Tree tree_;
};

class CgroupConformance : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    if (GetParam() == Version::v1)
      fake_ = std::make_unique<FakeV1>();
    else
      fake_ = std::make_unique<FakeV2>();
  }
  std::unique_ptr<Manager> manager(std::string parent = "") {
    auto m = Manager::detect(fake_->options(std::move(parent)));
    EXPECT_TRUE(m) << m.error().message;
    return m ? std::move(*m) : nullptr;
  }
  std::unique_ptr<Fake> fake_;
};

INSTANTIATE_TEST_SUITE_P(Drivers, CgroupConformance, ::testing::Values(Version::v1, Version::v2),
                         [](const auto& info) {
                           return info.param == Version::v1 ? std::string("v1") : std::string("v2");
                         });

TEST_P(CgroupConformance, DetectsTheDriver) {
  auto m = manager();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->version(), GetParam());
}

TEST_P(CgroupConformance, CreatesBelowTheDaemonsOwnCgroupByDefault) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c) << c.error().message;
  std::vector<std::string> want;
  for (const std::string& own : fake_->own_dirs()) want.push_back(own + "/berth/c1");
  std::vector<std::string> got = (*c)->dirs();
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  for (const std::string& d : want) EXPECT_TRUE(fs::is_directory(d)) << d;
  if (GetParam() == Version::v1) {
    EXPECT_EQ((*c)->path(), "/process_api/abc/berth/c1");  // the memory hierarchy's
    EXPECT_EQ(m->parent_path(), "/process_api/abc/berth");
  } else {
    EXPECT_EQ((*c)->path(), "/system.slice/berthd.service/berth/c1");
    EXPECT_EQ(m->parent_path(), "/system.slice/berthd.service/berth");
  }
  EXPECT_EQ((*c)->name(), "c1");
  EXPECT_EQ((*c)->version(), GetParam());
}

TEST_P(CgroupConformance, RelativeParentIsBelowOwnCgroup) {
  auto m = manager("ci/jobs");
  auto c = m->create("c1", {});
  ASSERT_TRUE(c) << c.error().message;
  for (const std::string& own : fake_->own_dirs())
    EXPECT_TRUE(fs::is_directory(own + "/ci/jobs/c1")) << own;
}

TEST_P(CgroupConformance, AbsoluteParentIsFromTheHierarchyRoot) {
  auto m = manager("/ci/jobs");
  auto c = m->create("c1", {});
  ASSERT_TRUE(c) << c.error().message;
  for (const std::string& root : fake_->roots())
    EXPECT_TRUE(fs::is_directory(root + "/ci/jobs/c1")) << root;
  EXPECT_EQ((*c)->path(), "/ci/jobs/c1");
}

TEST_P(CgroupConformance, BadParentAndNamesAreRefused) {
  auto bad_parent = Manager::detect(fake_->options("../escape"));
  ASSERT_FALSE(bad_parent);
  EXPECT_EQ(bad_parent.error().code, Errc::invalid_argument);
  auto m = manager();
  for (std::string_view name : {"", ".", "..", "a/b", "a b", "x\n"}) {
    auto c = m->create(name, {});
    ASSERT_FALSE(c) << name;
    EXPECT_EQ(c.error().code, Errc::invalid_argument) << name;
  }
}

TEST_P(CgroupConformance, CreateTwiceIsAConflict) {
  auto m = manager();
  ASSERT_TRUE(m->create("c1", {}));
  auto again = m->create("c1", {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::conflict) << again.error().message;
  EXPECT_NE(again.error().message.find("exists"), std::string::npos) << again.error().message;
  // The first one is untouched.
  EXPECT_TRUE(m->open("c1"));
}

TEST_P(CgroupConformance, OpenListRemove) {
  auto m = manager();
  EXPECT_EQ(m->list().value(), std::vector<std::string>{});
  auto missing = m->open("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  ASSERT_TRUE(m->create("b", {}));
  ASSERT_TRUE(m->create("a", {}));
  EXPECT_EQ(m->list().value(), (std::vector<std::string>{"a", "b"}));

  // A second manager (a restarted daemon) finds them.
  auto m2 = manager();
  auto a = m2->open("a");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ((*a)->dirs().size(), fake_->own_dirs().size());

  ASSERT_TRUE(m2->remove("a"));
  EXPECT_TRUE(m2->remove("a"));  // nothing there: fine
  EXPECT_EQ(m->list().value(), std::vector<std::string>{"b"});
  for (const std::string& own : fake_->own_dirs()) EXPECT_FALSE(exists(own + "/berth/a"));
}

TEST_P(CgroupConformance, DestroyRemovesDescendantsFirstAndIsIdempotent) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  std::vector<std::string> dirs = (*c)->dirs();
  // A container that made cgroups of its own (systemd inside, cgroupns).
  fs::create_directories(dirs[0] + "/inner/deeper");
  ASSERT_TRUE((*c)->destroy()) << "destroy";
  for (const std::string& d : dirs) EXPECT_FALSE(exists(d)) << d;
  // The parent stays for the next container.
  for (const std::string& own : fake_->own_dirs()) EXPECT_TRUE(fs::is_directory(own + "/berth"));
  EXPECT_TRUE((*c)->destroy());
}

TEST_P(CgroupConformance, RemakesAParentThatVanished) {
  auto m = manager();
  ASSERT_TRUE(m->create("c1", {}));
  for (const std::string& own : fake_->own_dirs()) fs::remove_all(own + "/berth");
  auto c = m->create("c2", {});
  ASSERT_TRUE(c) << c.error().message;
  for (const std::string& own : fake_->own_dirs()) EXPECT_TRUE(fs::is_directory(own + "/berth/c2"));
  EXPECT_EQ(m->list().value(), std::vector<std::string>{"c2"});
}

TEST_P(CgroupConformance, RemoveNeverFollowsASymlink) {
  auto m = manager();
  ASSERT_TRUE(m->create("c1", {}));  // makes the parent
  std::string outside = fake_->own_dirs()[0] + "/../outside-" + std::to_string(::getpid());
  fs::create_directories(outside + "/precious");
  std::string parent = fake_->own_dirs()[0] + "/berth";
  fs::create_directory_symlink(outside, parent + "/evil");
  auto r = m->remove("evil");
  EXPECT_FALSE(r);
  EXPECT_TRUE(fs::is_directory(outside + "/precious"));
  auto o = m->open("evil");
  EXPECT_FALSE(o);
}

TEST_P(CgroupConformance, UndoesTheCreateWhenALimitIsRefused) {
  auto m = manager();
  Resources r;
  r.nano_cpus = 500000000;
  r.cpu_quota = 50000;  // conflicting: refused before anything is written
  auto c = m->create("c1", r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::invalid_argument);
  EXPECT_NE(c.error().message.find("create cgroup c1"), std::string::npos) << c.error().message;
  for (const std::string& own : fake_->own_dirs()) EXPECT_FALSE(exists(own + "/berth/c1")) << own;
  EXPECT_TRUE(m->create("c1", {}));
}

TEST_P(CgroupConformance, ProcsFdsWriteIntoCgroupProcs) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  auto fds = (*c)->procs_fds();
  ASSERT_TRUE(fds);
  EXPECT_EQ(fds->size(), (*c)->dirs().size());
  for (const auto& fd : *fds) {
    int fl = ::fcntl(fd.get(), F_GETFL);
    EXPECT_EQ(fl & O_ACCMODE, O_WRONLY);
    EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(::write(fd.get(), "0", 1), 1);
  }
  for (const std::string& d : (*c)->dirs()) EXPECT_EQ(read_file(d + "/cgroup.procs"), "0") << d;
}

TEST_P(CgroupConformance, CloneDirFdOnlyOnV2) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  auto fd = (*c)->clone_dir_fd();
  ASSERT_TRUE(fd);
  if (GetParam() == Version::v1) {
    EXPECT_FALSE(*fd);
  } else {
    ASSERT_TRUE(*fd);
    EXPECT_TRUE(::fcntl(fd->get(), F_GETFL) & O_PATH);
    struct stat a, b;
    ASSERT_EQ(::fstat(fd->get(), &a), 0);
    ASSERT_EQ(::stat((*c)->dirs()[0].c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
  }
}

TEST_P(CgroupConformance, FreezeAndThaw) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  auto freezer_dir = [&]() {
    for (const std::string& d : (*c)->dirs())
      if (GetParam() == Version::v2 || d.find("/freezer/") != std::string::npos) return d;
    return std::string();
  }();
  ASSERT_TRUE((*c)->freeze());
  EXPECT_EQ(fake_->frozen_state(freezer_dir), "FROZEN");
  ASSERT_TRUE((*c)->thaw());
  EXPECT_EQ(fake_->frozen_state(freezer_dir), "THAWED");
}

TEST_P(CgroupConformance, FreezeWaitsForTheKernelAndGivesUpWithATimeout) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  fake_->set_freeze_stuck(true);
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->freeze();
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout) << r.error().message;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(3));
  // Left thawed, not half frozen.
  for (const std::string& d : (*c)->dirs()) {
    if (GetParam() == Version::v2 || d.find("/freezer/") != std::string::npos) {
      EXPECT_EQ(fake_->frozen_state(d), "THAWED");
    }
  }
}

TEST_P(CgroupConformance, FreezeCompletesWhenTheKernelCatchesUp) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  std::string dir;
  for (const std::string& d : (*c)->dirs())
    if (GetParam() == Version::v2 || d.find("/freezer/") != std::string::npos) dir = d;
  fake_->set_freeze_stuck(true);
  // The "kernel" finishes freezing 100 ms later.
  std::thread kernel([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fake_->set_freeze_stuck(false);
    if (GetParam() == Version::v1)
      write_file(dir + "/freezer.state", "FROZEN\n");
    else
      write_file(dir + "/cgroup.events", "populated 1\nfrozen 1\n");
  });
  auto r = (*c)->freeze();
  kernel.join();
  EXPECT_TRUE(r) << r.error().message;
}

TEST_P(CgroupConformance, OomKillCount) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)->oom_kill_count().value(), 0u);
  for (const std::string& d : (*c)->dirs())
    if (GetParam() == Version::v2 || d.find("/memory/") != std::string::npos)
      fake_->set_oom_kills(d, 3);
  EXPECT_EQ((*c)->oom_kill_count().value(), 3u);
}

TEST_P(CgroupConformance, PidsIncludeDescendants) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  for (const std::string& d : (*c)->dirs()) {
    write_file(d + "/cgroup.procs", "30\n10\n");
    fs::create_directory(d + "/inner");
    write_file(d + "/inner/cgroup.procs", "20\n");
  }
  EXPECT_EQ((*c)->pids().value(), (std::vector<pid_t>{10, 20, 30}));
}

TEST_P(CgroupConformance, KillAllSignalsEveryProcess) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  for (const std::string& d : (*c)->dirs()) write_file(d + "/cgroup.procs", str_cat(child, "\n"));
  ASSERT_TRUE((*c)->kill_all(SIGTERM));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

TEST_P(CgroupConformance, StatsReadTheKernelsNumbers) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  for (const std::string& d : (*c)->dirs()) {
    if (GetParam() == Version::v2) {
      write_file(d + "/memory.current", "1048576\n");
      write_file(d + "/memory.max", "33554432\n");
      write_file(d + "/memory.peak", "2097152\n");
      write_file(d + "/memory.stat", "anon 4096\nfile 8192\ninactive_file 512\n");
      write_file(d + "/pids.current", "3\n");
      write_file(d + "/pids.max", "max\n");
      write_file(d + "/cpu.stat",
                 "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\n"
                 "nr_throttled 2\nthrottled_usec 40\n");
    } else if (d.find("/memory/") != std::string::npos) {
      write_file(d + "/memory.usage_in_bytes", "1048576\n");
      write_file(d + "/memory.limit_in_bytes", "33554432\n");
      write_file(d + "/memory.max_usage_in_bytes", "2097152\n");
      write_file(d + "/memory.stat", "cache 8192\nrss 4096\ntotal_inactive_file 512\n");
    } else if (d.find("/pids/") != std::string::npos) {
      write_file(d + "/pids.current", "3\n");
    } else if (d.find("/cpu,cpuacct/") != std::string::npos) {
      write_file(d + "/cpuacct.usage", "1500000\n");
      write_file(d + "/cpuacct.usage_percpu", "1000000 500000 \n");
      write_file(d + "/cpuacct.stat", "user 1\nsystem 0\n");
      write_file(d + "/cpu.stat", "nr_periods 7\nnr_throttled 2\nthrottled_time 40000\n");
    }
  }
  auto s = (*c)->stats();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->memory_usage, 1048576u);
  EXPECT_EQ(s->memory_limit, std::optional<uint64_t>(33554432));
  EXPECT_EQ(s->memory_max_usage, std::optional<uint64_t>(2097152));
  EXPECT_EQ(s->pids_current, 3u);
  EXPECT_EQ(s->pids_limit, std::nullopt);
  EXPECT_EQ(s->cpu_usage_ns, 1500000u);
  EXPECT_EQ(s->cpu_periods, 7u);
  EXPECT_EQ(s->cpu_throttled_periods, 2u);
  EXPECT_EQ(s->cpu_throttled_ns, 40000u);
  ASSERT_EQ(s->memory_stat.size(), 3u);
  EXPECT_EQ(s->memory_stat[2].second, 512u);
  if (GetParam() == Version::v1) {
    EXPECT_EQ(s->cpu_per_cpu_ns, (std::vector<uint64_t>{1000000, 500000}));
    EXPECT_EQ(s->cpu_user_ns, 1000000000u / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK)));
  } else {
    EXPECT_EQ(s->cpu_user_ns, 1000000u);
    EXPECT_EQ(s->cpu_system_ns, 500000u);
  }
}

TEST_P(CgroupConformance, UnlimitedReadsAsNoLimit) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  auto s = (*c)->stats();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->memory_limit, std::nullopt);  // v1: 9223372036854771712; v2: "max"
  EXPECT_EQ(s->pids_limit, std::nullopt);
}

TEST_P(CgroupConformance, KernelRefusalsAreInvalidArgumentNamingFileAndValue) {
  auto m = manager();
  auto c = m->create("c1", {});
  ASSERT_TRUE(c);
  std::string dir;
  for (const std::string& d : (*c)->dirs())
    if (GetParam() == Version::v2 || d.find("/pids/") != std::string::npos) dir = d;
  for (int err : {EINVAL, EBUSY, ERANGE}) {
    fake_->refuse("/c1/pids.max", err);
    Resources r;
    r.pids_limit = 42;
    auto u = (*c)->update(r);
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().code, Errc::invalid_argument) << u.error().message;
    EXPECT_EQ(u.error().sys_errno, err);
    EXPECT_EQ(u.error().message, str_cat("write pids.max=42 in ", dir, ": ", strerror(err)));
  }
  // Not a refusal of the value: keeps its own code.
  fake_->refuse("/c1/pids.max", EACCES);
  Resources r;
  r.pids_limit = 42;
  auto u = (*c)->update(r);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::forbidden);
  fake_->refuse("/c1/pids.max", 0);
  EXPECT_TRUE((*c)->update(r));
}

// ---- v1: the exact files and values ----------------------------------------

class V1Files : public ::testing::Test {
 protected:
  std::unique_ptr<Cgroup> make(const Resources& r = {}, V1Options o = {}) {
    tree_ = std::make_unique<V1Tree>(std::move(o));
    auto m = Manager::detect(tree_->options());
    EXPECT_TRUE(m) << m.error().message;
    manager_ = std::move(*m);
    auto c = manager_->create("c1", r);
    EXPECT_TRUE(c) << c.error().message;
    return c ? std::move(*c) : nullptr;
  }
  std::string cdir(const std::string& hierarchy) {
    return tree_->own_dir(tree_->hierarchy(hierarchy)) + "/berth/c1";
  }
  std::unique_ptr<V1Tree> tree_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(V1Files, CpusetIsCopiedFromTheParentAtEveryNewLevel) {
  auto c = make();
  ASSERT_TRUE(c);
  std::string own = tree_->own_dir(tree_->hierarchy("cpuset"));
  EXPECT_EQ(trimmed(own + "/berth/cpuset.cpus"), "0-3");
  EXPECT_EQ(trimmed(own + "/berth/cpuset.mems"), "0");
  EXPECT_EQ(trimmed(cdir("cpuset") + "/cpuset.cpus"), "0-3");
  EXPECT_EQ(trimmed(cdir("cpuset") + "/cpuset.mems"), "0");
  // The daemon's own cgroup is only read.
  for (const auto& w : tree_->kernel().writes())
    EXPECT_EQ(w.file.find(own + "/cpuset."), std::string::npos) << w;
}

TEST_F(V1Files, ACpusetGivenOverridesTheCopy) {
  Resources r;
  r.cpuset_cpus = "1";
  r.cpuset_mems = "0";
  auto c = make(r);
  ASSERT_TRUE(c);
  EXPECT_EQ(tree_->kernel().values_of("/berth/c1/cpuset.cpus"),
            (std::vector<std::string>{"0-3", "1"}));
  EXPECT_EQ(trimmed(cdir("cpuset") + "/cpuset.cpus"), "1");
}

TEST_F(V1Files, DeviceRulesDenyAllThenAllowDockersList) {
  Resources r;
  r.devices.push_back(tun_device_rule());
  r.devices.push_back(parse_device_rule("b 8:0 r").value());
  auto c = make(r);
  ASSERT_TRUE(c);
  std::vector<std::string> got;
  for (const auto& w : tree_->kernel().writes()) {
    if (w.file == cdir("devices") + "/devices.deny") got.push_back("deny " + w.value);
    if (w.file == cdir("devices") + "/devices.allow") got.push_back("allow " + w.value);
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "deny a", "allow c *:* m", "allow b *:* m", "allow c 1:3 rwm",
                     "allow c 1:5 rwm", "allow c 1:7 rwm", "allow c 1:8 rwm", "allow c 1:9 rwm",
                     "allow c 5:0 rwm", "allow c 5:1 rwm", "allow c 5:2 rwm", "allow c 136:* rwm",
                     "allow c 10:200 rwm", "allow b 8:0 r"}));
}

TEST_F(V1Files, MemoryLimits) {
  Resources r;
  r.memory = 33554432;
  r.memory_swap = 67108864;
  r.memory_reservation = 16777216;
  r.oom_kill_disable = true;
  auto c = make(r);
  ASSERT_TRUE(c);
  std::string d = cdir("memory");
  EXPECT_EQ(read_file(d + "/memory.limit_in_bytes"), "33554432");
  EXPECT_EQ(read_file(d + "/memory.memsw.limit_in_bytes"), "67108864");
  EXPECT_EQ(read_file(d + "/memory.soft_limit_in_bytes"), "16777216");
  EXPECT_EQ(read_file(d + "/memory.oom_control"), "1");
  // The limit comes down from unlimited: memory first, then memsw (memsw
  // below the limit in place would be refused).
  std::vector<std::string> order;
  for (const auto& w : tree_->kernel().writes())
    if (w.file.starts_with(d + "/memory.")) order.push_back(w.file.substr(d.size() + 1));
  EXPECT_EQ(order, (std::vector<std::string>{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                                             "memory.soft_limit_in_bytes", "memory.oom_control"}));
}

TEST_F(V1Files, RaisingMemoryWritesMemswFirst) {
  Resources r;
  r.memory = 33554432;
  r.memory_swap = 33554432;
  auto c = make(r);
  ASSERT_TRUE(c);
  tree_->kernel().clear();
  Resources up;
  up.memory = 67108864;
  up.memory_swap = 134217728;  // above the current limit: memsw goes first
  ASSERT_TRUE(c->update(up));
  auto w = tree_->kernel().writes();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_TRUE(w[0].file.ends_with("/memory.memsw.limit_in_bytes")) << w[0];
  EXPECT_EQ(w[0].value, "134217728");
  EXPECT_TRUE(w[1].file.ends_with("/memory.limit_in_bytes")) << w[1];
  EXPECT_EQ(w[1].value, "67108864");
}

TEST_F(V1Files, UnlimitedMemoryTakesTheSwapLimitAlong) {
  auto c = make();
  ASSERT_TRUE(c);
  tree_->kernel().clear();
  Resources r;
  r.memory = -1;
  ASSERT_TRUE(c->update(r));
  auto w = tree_->kernel().writes();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_TRUE(w[0].file.ends_with("/memory.memsw.limit_in_bytes"));
  EXPECT_EQ(w[0].value, "-1");
  EXPECT_TRUE(w[1].file.ends_with("/memory.limit_in_bytes"));
  EXPECT_EQ(w[1].value, "-1");
}

TEST_F(V1Files, SwapLimitWithoutSwapAccountingIsRefused) {
  V1Options o;
  o.swap_accounting = false;
  auto c = make({}, o);
  ASSERT_TRUE(c);
  Resources r;
  r.memory = 33554432;
  r.memory_swap = 67108864;
  auto u = c->update(r);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::invalid_argument);
  EXPECT_NE(u.error().message.find("memory.memsw.limit_in_bytes"), std::string::npos);
  // Unlimited swap is what there is: fine.
  r.memory_swap = -1;
  EXPECT_TRUE(c->update(r));
}

TEST_F(V1Files, CpuLimits) {
  Resources r;
  r.cpu_shares = 512;
  r.nano_cpus = 1500000000;
  auto c = make(r);
  ASSERT_TRUE(c);
  std::string d = cdir("cpu,cpuacct");
  EXPECT_EQ(read_file(d + "/cpu.shares"), "512");
  EXPECT_EQ(read_file(d + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read_file(d + "/cpu.cfs_quota_us"), "150000");
  Resources q;
  q.cpu_quota = 0;  // unlimited
  q.cpu_period = 50000;
  ASSERT_TRUE(c->update(q));
  EXPECT_EQ(read_file(d + "/cpu.cfs_period_us"), "50000");
  EXPECT_EQ(read_file(d + "/cpu.cfs_quota_us"), "-1");
}

TEST_F(V1Files, SeparateCpuAndCpuacctMounts) {
  V1Options o;
  o.joint_cpu = false;
  Resources r;
  r.cpu_shares = 256;
  auto c = make(r, o);
  ASSERT_TRUE(c);
  EXPECT_EQ(read_file(cdir("cpu") + "/cpu.shares"), "256");
  EXPECT_TRUE(fs::is_directory(cdir("cpuacct")));
  EXPECT_EQ(c->dirs().size(), 8u);
  auto s = c->stats();
  EXPECT_TRUE(s) << s.error().message;
}

TEST_F(V1Files, PidsLimit) {
  Resources r;
  r.pids_limit = 100;
  auto c = make(r);
  ASSERT_TRUE(c);
  EXPECT_EQ(read_file(cdir("pids") + "/pids.max"), "100");
  r.pids_limit = 0;
  ASSERT_TRUE(c->update(r));
  EXPECT_EQ(read_file(cdir("pids") + "/pids.max"), "max");
  r.pids_limit = -1;
  ASSERT_TRUE(c->update(r));
  EXPECT_EQ(read_file(cdir("pids") + "/pids.max"), "max");
}

TEST_F(V1Files, ALimitWithoutItsHierarchyIsRefusedAndTheCreateUndone) {
  V1Options o;
  o.with_pids = false;
  tree_ = std::make_unique<V1Tree>(o);
  auto m = Manager::detect(tree_->options());
  ASSERT_TRUE(m);
  Resources r;
  r.pids_limit = 10;
  auto c = (*m)->create("c1", r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::invalid_argument);
  EXPECT_NE(c.error().message.find("pids"), std::string::npos) << c.error().message;
  EXPECT_FALSE(exists(cdir("memory")));
  EXPECT_FALSE(exists(cdir("devices")));
}

TEST_F(V1Files, FreezeWritesFreezerState) {
  auto c = make();
  ASSERT_TRUE(c);
  tree_->kernel().clear();
  ASSERT_TRUE(c->freeze());
  ASSERT_TRUE(c->thaw());
  EXPECT_EQ(tree_->kernel().values_of("/freezer.state"),
            (std::vector<std::string>{"FROZEN", "THAWED"}));
}

TEST_F(V1Files, OomEventFdRegistersOnOomControl) {
  auto c = make();
  ASSERT_TRUE(c);
  tree_->kernel().clear();
  auto fd = c->oom_event_fd();
  ASSERT_TRUE(fd) << fd.error().message;
  auto w = tree_->kernel().writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].file, cdir("memory") + "/cgroup.event_control");
  // "<eventfd> <fd of memory.oom_control>"
  auto parts = split(w[0].value, ' ');
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parse_number<int>(parts[0]), fd->get());
  EXPECT_TRUE(parse_number<int>(parts[1]));
  EXPECT_TRUE(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK);
}

TEST_F(V1Files, KillAllOfAnEmptyCgroupDoesNotFreeze) {
  // The usual case after a container's init exited: each freeze and thaw
  // costs milliseconds on this kernel, and nothing can join an empty cgroup.
  // (Freezing a populated one before SIGKILL is checked on the real kernel.)
  auto c = make();
  ASSERT_TRUE(c);
  tree_->kernel().clear();
  ASSERT_TRUE(c->kill_all(SIGKILL));  // nobody inside
  EXPECT_EQ(tree_->kernel().values_of("/freezer.state"), std::vector<std::string>{});
}

TEST_F(V1Files, DetectionReadsMountinfoNotNames) {
  tree_ = std::make_unique<V1Tree>();
  auto o = tree_->options();
  auto hs = v1::find_hierarchies(read_file(o.mountinfo), read_file(o.self_cgroup), o.cgroup_root);
  std::vector<std::string> got;
  for (const auto& h : hs) got.push_back(join(h.controllers, ",") + "@" + h.own);
  EXPECT_EQ(got, (std::vector<std::string>{"memory@/process_api/abc", "cpu,cpuacct@/", "cpuset@/",
                                           "pids@/", "freezer@/", "devices@/", "blkio@/"}));
}

// ---- v2: the exact files and values ----------------------------------------

class V2Files : public ::testing::Test {
 protected:
  std::unique_ptr<Cgroup> make(const Resources& r = {}, V2Options o = {}, std::string parent = "") {
    tree_ = std::make_unique<V2Tree>(std::move(o));
    auto m = Manager::detect(tree_->options(std::move(parent)));
    EXPECT_TRUE(m) << m.error().message;
    manager_ = std::move(*m);
    auto c = manager_->create("c1", r);
    EXPECT_TRUE(c) << c.error().message;
    return c ? std::move(*c) : nullptr;
  }
  std::string cdir() { return tree_->own_dir() + "/berth/c1"; }
  std::unique_ptr<V2Tree> tree_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(V2Files, EnablesControllersInEachLevelFromOwnCgroupDown) {
  auto c = make();
  ASSERT_TRUE(c);
  // own passes down what it was given (cpu io memory pids), berth too.
  EXPECT_EQ(trimmed(tree_->own_dir() + "/cgroup.subtree_control"), "cpu io memory pids");
  EXPECT_EQ(trimmed(tree_->own_dir() + "/berth/cgroup.subtree_control"), "cpu io memory pids");
  EXPECT_EQ(trimmed(cdir() + "/cgroup.controllers"), "cpu io memory pids");
  // The container's own cgroup passes nothing down (it holds processes),
  // and nothing above the daemon's cgroup is written.
  EXPECT_EQ(trimmed(cdir() + "/cgroup.subtree_control"), "");
  for (const auto& w : tree_->kernel().writes()) {
    EXPECT_TRUE(w.file.starts_with(tree_->own_dir() + "/")) << w;
    if (w.file.ends_with("cgroup.subtree_control")) {
      EXPECT_EQ(w.value[0], '+') << w;
    }
  }
}

TEST_F(V2Files, EnablesOnlyWhatIsMissingAndOffered) {
  V2Options o;
  o.enabled_above_own = "memory pids";  // no cpu offered to own
  auto c = make({}, o);
  ASSERT_TRUE(c);
  EXPECT_EQ(trimmed(cdir() + "/cgroup.controllers"), "memory pids");
  auto writes = tree_->kernel().values_of("/berthd.service/cgroup.subtree_control");
  EXPECT_EQ(writes, (std::vector<std::string>{"+memory", "+pids"}));
  // A second container: the parents are set up already.
  tree_->kernel().clear();
  ASSERT_TRUE(manager_->create("c2", {}));
  EXPECT_TRUE(tree_->kernel().values_of("cgroup.subtree_control").empty());
}

TEST_F(V2Files, AbsoluteParentSetsUpFromTheRoot) {
  auto c = make({}, {}, "/ci");
  ASSERT_TRUE(c);
  // Root offers cpuset and hugetlb too; berth enables what it wants.
  EXPECT_EQ(trimmed(tree_->root() + "/ci/cgroup.controllers"), "cpu cpuset io memory pids");
  EXPECT_EQ(trimmed(tree_->root() + "/ci/c1/cgroup.controllers"), "cpu cpuset io memory pids");
}

TEST_F(V2Files, MemoryLimits) {
  Resources r;
  r.memory = 33554432;
  r.memory_swap = 50331648;
  r.memory_reservation = 16777216;
  auto c = make(r);
  ASSERT_TRUE(c);
  EXPECT_EQ(read_file(cdir() + "/memory.max"), "33554432");
  EXPECT_EQ(read_file(cdir() + "/memory.swap.max"), "16777216");  // swap alone
  EXPECT_EQ(read_file(cdir() + "/memory.low"), "16777216");
  Resources u;
  u.memory_swap = -1;
  ASSERT_TRUE(c->update(u));
  EXPECT_EQ(read_file(cdir() + "/memory.swap.max"), "max");
  u.memory_swap = 33554432;  // equal to memory: no swap
  ASSERT_TRUE(c->update(u));
  EXPECT_EQ(read_file(cdir() + "/memory.swap.max"), "0");
  u = {};
  u.memory = -1;
  ASSERT_TRUE(c->update(u));
  EXPECT_EQ(read_file(cdir() + "/memory.max"), "max");
  u = {};
  u.memory_swap = 100000000;  // no memory limit to add swap to
  auto bad = c->update(u);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
}

TEST_F(V2Files, CpuLimits) {
  Resources r;
  r.cpu_shares = 1024;
  r.nano_cpus = 500000000;
  auto c = make(r);
  ASSERT_TRUE(c);
  EXPECT_EQ(read_file(cdir() + "/cpu.weight"), "39");
  EXPECT_EQ(read_file(cdir() + "/cpu.max"), "50000 100000");
  Resources p;
  p.cpu_period = 200000;  // keeps the quota
  ASSERT_TRUE(c->update(p));
  EXPECT_EQ(read_file(cdir() + "/cpu.max"), "50000 200000");
  Resources q;
  q.cpu_quota = -1;
  ASSERT_TRUE(c->update(q));
  EXPECT_EQ(read_file(cdir() + "/cpu.max"), "max");
}

TEST_F(V2Files, PidsAndCpuset) {
  Resources r;
  r.pids_limit = 64;
  auto c = make(r, {}, "/ci");  // cpuset is offered from the root
  ASSERT_TRUE(c);
  std::string d = tree_->root() + "/ci/c1";
  EXPECT_EQ(read_file(d + "/pids.max"), "64");
  Resources s;
  s.cpuset_cpus = "0-1";
  s.cpuset_mems = "0";
  ASSERT_TRUE(c->update(s));
  EXPECT_EQ(read_file(d + "/cpuset.cpus"), "0-1");
  EXPECT_EQ(read_file(d + "/cpuset.mems"), "0");
}

TEST_F(V2Files, ALimitWithoutItsControllerSaysWhich) {
  auto c = make();  // no cpuset offered below own
  ASSERT_TRUE(c);
  Resources r;
  r.cpuset_cpus = "0";
  auto u = c->update(r);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::invalid_argument);
  EXPECT_NE(u.error().message.find("cpuset controller"), std::string::npos) << u.error().message;
}

TEST_F(V2Files, OomKillDisableIsIgnored) {
  Resources r;
  r.oom_kill_disable = true;
  auto c = make(r);
  ASSERT_TRUE(c);
}

TEST_F(V2Files, FreezeWritesCgroupFreeze) {
  auto c = make();
  ASSERT_TRUE(c);
  tree_->kernel().clear();
  ASSERT_TRUE(c->freeze());
  ASSERT_TRUE(c->thaw());
  EXPECT_EQ(tree_->kernel().values_of("/c1/cgroup.freeze"), (std::vector<std::string>{"1", "0"}));
}

TEST_F(V2Files, KillAllUsesCgroupKill) {
  auto c = make();
  ASSERT_TRUE(c);
  tree_->kernel().clear();
  ASSERT_TRUE(c->kill_all(SIGKILL));
  EXPECT_EQ(tree_->kernel().values_of("/c1/cgroup.kill"), std::vector<std::string>{"1"});
  // Without cgroup.kill (before 5.14): freeze, signal, thaw.
  fs::remove(cdir() + "/cgroup.kill");
  tree_->kernel().clear();
  ASSERT_TRUE(c->kill_all(SIGKILL));
  EXPECT_EQ(tree_->kernel().values_of("/c1/cgroup.freeze"), (std::vector<std::string>{"1", "0"}));
}

TEST_F(V2Files, OomEventFdWatchesMemoryEvents) {
  auto c = make();
  ASSERT_TRUE(c);
  auto fd = c->oom_event_fd();
  ASSERT_TRUE(fd) << fd.error().message;
  pollfd p{fd->get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  write_file(cdir() + "/memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n");
  EXPECT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_EQ(c->oom_kill_count().value(), 1u);
}

TEST_F(V2Files, OwnCgroupHoldingProcessesPassesNoControllers) {
  V2Options o;
  o.own_procs = "1\n";  // someone else is in the daemon's cgroup
  auto c = make({}, o);
  ASSERT_TRUE(c);  // created, but nothing can be limited
  EXPECT_EQ(trimmed(cdir() + "/cgroup.controllers"), "");
  Resources r;
  r.memory = 1 << 30;
  auto u = c->update(r);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::invalid_argument);
  EXPECT_NE(u.error().message.find("needs the memory controller"), std::string::npos)
      << u.error().message;
}

TEST_F(V2Files, SelfLeafMovesTheDaemonOutOfItsCgroup) {
  V2Options o;
  o.own_procs = str_cat(::getpid(), "\n");
  tree_ = std::make_unique<V2Tree>(o);
  auto opts = tree_->options();
  opts.self_leaf = "berthd";
  auto m = Manager::detect(opts);
  ASSERT_TRUE(m);
  auto c = (*m)->create("c1", {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(read_file(tree_->own_dir() + "/berthd/cgroup.procs"), str_cat(::getpid(), "\n"));
  EXPECT_EQ(read_file(tree_->own_dir() + "/cgroup.procs"), "");
  EXPECT_EQ(trimmed(cdir() + "/cgroup.controllers"), "cpu io memory pids");
  EXPECT_EQ((*m)->list().value(), std::vector<std::string>{"c1"});
}

TEST_F(V2Files, SelfLeafNeverMovesOtherProcesses) {
  V2Options o;
  o.own_procs = str_cat("1\n", ::getpid(), "\n");
  tree_ = std::make_unique<V2Tree>(o);
  auto opts = tree_->options();
  opts.self_leaf = "berthd";
  auto m = Manager::detect(opts);
  ASSERT_TRUE(m);
  auto c = (*m)->create("c1", {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(read_file(tree_->own_dir() + "/cgroup.procs"), "1\n");
  EXPECT_EQ(trimmed(cdir() + "/cgroup.controllers"), "");
}

TEST_F(V2Files, SelfLeafCannotHoldTheParent) {
  tree_ = std::make_unique<V2Tree>();
  auto opts = tree_->options();
  opts.self_leaf = "berth";
  auto m = Manager::detect(opts);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::invalid_argument);
}

TEST_F(V2Files, DetectionPrefersV2AtTheRootAndFallsBackToV1) {
  // Pure v2: cgroup2 at the root with controllers.
  tree_ = std::make_unique<V2Tree>();
  auto m = Manager::detect(tree_->options());
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->version(), Version::v2);
  // cgroup2 at the root without controllers and no v1: still v2 (no limits).
  write_file(tree_->root() + "/cgroup.controllers", "\n");
  m = Manager::detect(tree_->options());
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->version(), Version::v2);
  // Hybrid (the dev machine): v1, the empty unified mount ignored.
  V1Tree hybrid;
  m = Manager::detect(hybrid.options());
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->version(), Version::v1);
  // Hybrid, asked for the unified mount itself: v2 there.
  auto o = hybrid.options();
  o.cgroup_root = hybrid.root() + "/unified";
  m = Manager::detect(o);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->version(), Version::v2);
  // Nothing mounted there.
  o.cgroup_root = hybrid.tmp() + "/elsewhere";
  m = Manager::detect(o);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::not_found);
}

// ---- pure parts ---------------------------------------------------------------

TEST(CgroupHierarchy, ParsesMountinfo) {
  auto m = parse_mountinfo(
      "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
      "40 30 0:37 /docker/x /sys/fs/cgroup/with\\040space rw - cgroup2 cgroup2 rw\n"
      "bad line\n");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(m[0].fstype, "cgroup");
  EXPECT_EQ(m[0].super_options, (std::vector<std::string>{"rw", "cpu", "cpuacct"}));
  EXPECT_EQ(m[1].root, "/docker/x");
  EXPECT_EQ(m[1].mount_point, "/sys/fs/cgroup/with space");
  EXPECT_EQ(m[1].fstype, "cgroup2");
}

TEST(CgroupHierarchy, ParsesProcCgroup) {
  auto p = parse_proc_cgroup(
      "4:memory:/process_api/e30d\n2:cpu,cpuacct:/\n9:name=systemd:/\n0::/user.slice\n");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].controllers, std::vector<std::string>{"memory"});
  EXPECT_EQ(p[0].path, "/process_api/e30d");
  EXPECT_EQ(p[1].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_TRUE(p[3].controllers.empty());
  EXPECT_EQ(p[3].path, "/user.slice");
}

TEST(CgroupHierarchy, Paths) {
  EXPECT_EQ(join_cgroup_path("/a//b/", "c"), "/a/b/c");
  EXPECT_EQ(join_cgroup_path("", ""), "/");
  EXPECT_EQ(path_below_mount_root("/docker/x/y", "/docker/x"), "/y");
  EXPECT_EQ(path_below_mount_root("/docker/x", "/docker/x"), "/");
  EXPECT_EQ(path_below_mount_root("/a", "/"), "/a");
  EXPECT_EQ(path_below_mount_root("/docker/xy", "/docker/x"), "/docker/xy");
  EXPECT_EQ(containers_parent("/process_api/abc", "").value(), "/process_api/abc/berth");
  EXPECT_EQ(containers_parent("/", "").value(), "/berth");
  EXPECT_EQ(containers_parent("/own", "a/b").value(), "/own/a/b");
  EXPECT_EQ(containers_parent("/own", "/a/b/").value(), "/a/b");
  EXPECT_FALSE(containers_parent("/own", "a/../../b"));
  EXPECT_FALSE(containers_parent("/own", "/"));
  EXPECT_TRUE(check_cgroup_name("0123abcdef-x_y.z"));
  EXPECT_FALSE(check_cgroup_name(std::string(256, 'a')));
}

TEST(CgroupResources, Conversions) {
  EXPECT_EQ(cpu_shares_to_weight(2), 1u);
  EXPECT_EQ(cpu_shares_to_weight(1024), 39u);
  EXPECT_EQ(cpu_shares_to_weight(262144), 10000u);
  EXPECT_EQ(cpu_shares_to_weight(1), 1u);  // clamped
  EXPECT_EQ(cpu_shares_to_weight(1000000), 10000u);
  Resources r;
  r.nano_cpus = 250000000;
  auto bw = cpu_bandwidth(r).value();
  EXPECT_EQ(bw.quota, 25000);
  EXPECT_EQ(bw.period, 100000);
  EXPECT_EQ(pids_max_value(0), "max");
  EXPECT_EQ(pids_max_value(-1), "max");
  EXPECT_EQ(pids_max_value(7), "7");
}

TEST(CgroupResources, Checks) {
  auto refused = [](Resources r) { return !check_resources(r); };
  Resources r;
  r.memory = 0;
  EXPECT_TRUE(refused(r));
  r.memory = 100;
  r.memory_swap = 50;
  EXPECT_TRUE(refused(r));
  r.memory_swap = -1;
  EXPECT_FALSE(refused(r));
  Resources c;
  c.nano_cpus = 1000000000;
  c.cpu_period = 100000;
  EXPECT_TRUE(refused(c));
  Resources s;
  s.cpu_shares = -5;
  EXPECT_TRUE(refused(s));
}

TEST(CgroupDevices, V1Strings) {
  EXPECT_EQ(to_v1_string(DeviceRule::all(false)), "a");
  EXPECT_EQ(to_v1_string(DeviceRule::chr(1, 3)), "c 1:3 rwm");
  EXPECT_EQ(to_v1_string(DeviceRule::chr(136, DeviceRule::wildcard)), "c 136:* rwm");
  EXPECT_EQ(to_v1_string({'b', DeviceRule::wildcard, DeviceRule::wildcard, "m", true}), "b *:* m");
}

TEST(CgroupDevices, ParsesDockerDeviceCgroupRules) {
  EXPECT_EQ(parse_device_rule("c 1:3 mr").value(), (DeviceRule{'c', 1, 3, "mr", true}));
  EXPECT_EQ(parse_device_rule("b *:* m").value(),
            (DeviceRule{'b', DeviceRule::wildcard, DeviceRule::wildcard, "m", true}));
  EXPECT_EQ(parse_device_rule("c 10:200").value(), DeviceRule::chr(10, 200));
  EXPECT_EQ(parse_device_rule("a").value(), DeviceRule::all(true));
  for (std::string_view bad :
       {"", "x 1:3 r", "c 1 r", "c 1:3 rx", "c 1:3 rr", "c -1:3 r", "c 1:3 r extra"})
    EXPECT_FALSE(parse_device_rule(bad)) << bad;
}

TEST(CgroupDevices, RuleSetReadsLikeTheV1Kernel) {
  auto set = DeviceRuleSet::from(container_device_rules({}));
  EXPECT_FALSE(set.default_allow);
  EXPECT_TRUE(set.allows('c', 1, 3, 'r'));
  EXPECT_TRUE(set.allows('c', 1, 3, 'w'));
  EXPECT_TRUE(set.allows('c', 136, 7, 'w'));
  EXPECT_TRUE(set.allows('c', 8, 1, 'm'));  // mknod anything
  EXPECT_TRUE(set.allows('b', 8, 0, 'm'));
  EXPECT_FALSE(set.allows('b', 8, 0, 'r'));
  EXPECT_FALSE(set.allows('c', 1, 1, 'r'));     // /dev/mem
  EXPECT_FALSE(set.allows('c', 10, 200, 'r'));  // tun only when asked
  EXPECT_TRUE(
      DeviceRuleSet::from(container_device_rules({tun_device_rule()})).allows('c', 10, 200, 'r'));
  // Privileged: allow all resets.
  auto priv = DeviceRuleSet::from(container_device_rules({DeviceRule::all(true)}));
  EXPECT_TRUE(priv.default_allow);
  EXPECT_TRUE(priv.exceptions.empty());
  // A deny of the default's kind takes access off an identical exception.
  auto less = DeviceRuleSet::from(container_device_rules({DeviceRule{'c', 1, 3, "w", false}}));
  EXPECT_TRUE(less.allows('c', 1, 3, 'r'));
  EXPECT_FALSE(less.allows('c', 1, 3, 'w'));
}

}  // namespace
}  // namespace berth::core::cgroup
