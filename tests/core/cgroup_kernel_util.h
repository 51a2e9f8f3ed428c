// Helpers of the real-kernel cgroup tests: children that join a cgroup
// through procs_fds() (writing "0", as a spawned container does) and run a
// body, a fixture base that kills and removes everything it made even
// when a test fails, and /proc readers. Header-only (see cgroup_fake.h).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/base/strings.h"
#include "core/cgroup/dir.h"
#include "core/cgroup/manager.h"
#include "tests/testlib/testlib.h"

namespace berth::testing::cgroup_kernel {

namespace cg = berth::core::cgroup;

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// utime + stime of a process, in clock ticks.
inline uint64_t cpu_ticks(pid_t pid) {
  std::string s = slurp(str_cat("/proc/", pid, "/stat"));
  size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string_view> f;
  for (std::string_view x : split(std::string_view(s).substr(close + 2), ' ')) f.push_back(x);
  // After "pid (comm) ": state is field 3, utime 14, stime 15.
  if (f.size() < 13) return 0;
  return parse_number<uint64_t>(f[11]).value_or(0) + parse_number<uint64_t>(f[12]).value_or(0);
}

// Waits for a child with a bound; -1 when it did not end in time.
inline int wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Reads up to n bytes from fd, waiting at most timeout in all.
inline std::string read_for(int fd, size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

struct Child {
  pid_t pid = -1;
  unique_fd report;  // what the child writes after joining ('j' first)
};

// The fixture base: owns the manager, the cgroups and the children.
class KernelFixture : public ::testing::Test {
 protected:
  ~KernelFixture() override = default;

  std::string unique_parent() const {
    std::random_device rd;
    return str_cat("berth-test-", ::getpid(), "-", rd() % 100000);
  }

  // Forks a child that joins c through procs_fds(), reports 'j', then runs
  // body(report_fd) and exits with its result. Only async-signal-safe work
  // in body, please (plus malloc: the test process is single-threaded).
  Child spawn(cg::Cgroup& c, std::function<int(int)> body) {
    Child ch;
    auto fds = c.procs_fds();
    EXPECT_TRUE(fds) << fds.error().message;
    if (!fds) return ch;
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return ch;
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(p[0]);
      for (const auto& fd : *fds)
        if (::write(fd.get(), "0", 1) != 1) ::_exit(120);
      if (::write(p[1], "j", 1) != 1) ::_exit(121);
      ::_exit(body(p[1]));
    }
    ::close(p[1]);
    ch.pid = pid;
    ch.report.reset(p[0]);
    children_.push_back(pid);
    std::string j = read_for(ch.report.get(), 1, std::chrono::seconds(5));
    EXPECT_EQ(j, "j") << "the child did not join";
    return ch;
  }

  cg::Cgroup* keep(std::unique_ptr<cg::Cgroup> c) {
    cgroups_.push_back(std::move(c));
    return cgroups_.back().get();
  }

  void SetUp() override { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

  // Kills what runs in our cgroups, reaps every child (orphans come to us:
  // subreaper), removes the cgroups, then the test parent directories.
  void TearDown() override {
    for (auto& c : cgroups_) (void)c->kill_all(SIGKILL);
    for (pid_t pid : children_) {
      // Only a child not yet reaped: its pid cannot have been reused.
      siginfo_t si{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0)
        ::kill(pid, SIGKILL);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      int st;
      pid_t r = ::waitpid(-1, &st, WNOHANG);
      if (r < 0 && errno == ECHILD) break;
      if (std::chrono::steady_clock::now() >= deadline) break;
      if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (auto& c : cgroups_) {
      auto d = c->destroy();
      EXPECT_TRUE(d) << d.error().message;
    }
    cgroups_.clear();
    for (const std::string& dir : parent_homes_) {
      auto home = cg::Dir::open_root(dir, nullptr);
      if (!home) continue;
      auto r = home->remove(parent_, std::chrono::seconds(2));
      EXPECT_TRUE(r) << r.error().message;
      EXPECT_FALSE(std::filesystem::exists(dir + "/" + parent_)) << dir;
    }
  }

  std::string parent_;                     // the unique test parent (a name)
  std::vector<std::string> parent_homes_;  // dirs in which parent_ is made
  std::unique_ptr<cg::Manager> manager_;
  std::vector<std::unique_ptr<cg::Cgroup>> cgroups_;
  std::vector<pid_t> children_;
};

// Allocates and touches mib MiB (volatile: the compiler must not drop
// the stores, nor with them the allocation).
inline int child_alloc(size_t mib) {
  for (size_t i = 0; i < mib; ++i) {
    volatile char* p = static_cast<volatile char*>(::malloc(1 << 20));
    if (!p) return 3;
    for (size_t k = 0; k < (1u << 20); k += 4096) p[k] = 1;
  }
  return 0;  // when a limit should have killed it: it did not hold
}

// Burns this process's own CPU time (not wall time: the host may be busy).
inline void child_burn_cpu(std::chrono::milliseconds amount) {
  volatile uint64_t x = 0;
  for (;;) {
    timespec ts;
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    if (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= amount.count()) return;
    for (int i = 0; i < 100000; ++i) x = x + 1;
  }
}

inline int child_pause(int) {
  for (;;) ::pause();
}

inline int child_spin(int) {
  volatile uint64_t x = 0;
  for (;;) x = x + 1;
}

inline bool swap_total_is_zero() {
  std::string m = slurp("/proc/meminfo");
  for (std::string_view line : split(m, '\n'))
    if (line.starts_with("SwapTotal:")) return contains(line, " 0 kB");
  return false;
}

}  // namespace berth::testing::cgroup_kernel
