// The container flow through the real docker CLI (28) against berthd: run
// with --rm, exit codes (the container's, 125/126/127), detached containers
// with logs, ps, top, pause, stop and rm, stdin with -i, a terminal with -t
// (and an interactive shell with -it driven through tmux),
// environment, working directory and user, the memory limit's OOM kill,
// restart policies, wait, and state that survives a daemon restart. Then no
// leaks: after many runs no cgroup is left below the daemon's parent, no
// mount of the daemon's root is visible on the host and the daemon holds
// the same fds. Skips without the docker CLI; needs root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "core/base/strings.h"
#include "core/sys/host.h"
#include "tests/layers/layer_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::api {
namespace {

using namespace berth::layers::testing;
using berth::testing::CommandResult;
using berth::testing::Daemon;
using berth::testing::run_command;
using berth::testing::TempDir;

const char* kDocker = "/usr/local/bin/docker";
const char* kImage = "berth/busybox";

std::string trimmed(std::string_view s) {
  return std::string(trim(s));
}

class ContainersApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || ::access(kDocker, X_OK) != 0) return;
    if (::access("/bin/busybox", X_OK) != 0) return;
    static TempDir image_dir("berth-ct-image");
    tar_ = image_dir / "busybox.tar";
    auto r =
        run_command(str_cat(testing_source(), "/tools/make-busybox-image.sh ", shell_quote(tar_)));
    if (r.status != 0) tar_.clear();
  }
  static std::string testing_source() { return berth::testing::source_dir(); }

  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    if (::access(kDocker, X_OK) != 0) GTEST_SKIP() << "no docker CLI at " << kDocker;
    if (tar_.empty()) GTEST_SKIP() << "no static /bin/busybox (package busybox-static)";
    ASSERT_TRUE(daemon_.start());
    started_ = true;
    ok(str_cat("import ", shell_quote(tar_), " ", kImage));
  }
  void TearDown() override {
    if (started_) daemon_.stop(std::chrono::seconds(20));
    // Every container's cgroup must be gone with its container: then the
    // daemon's parent cgroups are empty and can go too.
    auto left = run_command(str_cat("find /sys/fs/cgroup -maxdepth 9 -mindepth 2 -type d -path '*/",
                                    cgroup_parent_, "/*'"));
    EXPECT_EQ(left.output, "") << "container cgroups left behind";
    run_command(str_cat("find /sys/fs/cgroup -maxdepth 9 -depth -type d \\( -path '*/",
                        cgroup_parent_, "' -o -path '*/", cgroup_parent_,
                        "/*' \\) -exec rmdir {} + 2>/dev/null"));
  }

  CommandResult docker(const std::string& args, const std::string& input = "") {
    std::string cmd =
        str_cat("env -u DOCKER_CONTEXT DOCKER_HOST=", daemon_.host_url(),
                " DOCKER_CONFIG=", t_.path(), "/dockercfg timeout -k 5 60 ", kDocker, " ", args);
    if (!input.empty()) cmd = str_cat("printf %s ", shell_quote(input), " | ", cmd);
    return run_command(cmd + " 2>&1");
  }
  std::string ok(const std::string& args) {
    auto r = docker(args);
    EXPECT_EQ(r.status, 0) << "docker " << args << "\n" << r.output;
    return r.output;
  }
  // docker inspect --format F NAME, trimmed.
  std::string inspect(const std::string& name, const std::string& format) {
    return trimmed(ok(str_cat("inspect --format ", shell_quote(format), " ", name)));
  }
  // Polls inspect until it gives want (bounded: 300 tries, 30 s).
  bool eventually(const std::string& name, const std::string& format, const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (int i = 0; i < 300 && std::chrono::steady_clock::now() < deadline; ++i) {
      auto r = docker(str_cat("inspect --format ", shell_quote(format), " ", name));
      if (r.status == 0 && trimmed(r.output) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // Output lines without the create warning about bridge networking.
  static std::string without_warnings(const std::string& out) {
    std::string r;
    for (auto l : split(out, '\n'))
      if (!l.starts_with("WARNING:") && !l.empty()) r += str_cat(l, "\n");
    return r;
  }

  static inline std::string tar_;
  TempDir t_{"berth-ct"};
  // A parent cgroup of this test's own, so that daemons of tests running
  // beside it do not mix their containers' cgroups with this one's.
  std::string cgroup_parent_ = str_cat("berth-test-", ::getpid());
  Daemon daemon_{Daemon::Options{.extra_args = {"--cgroup-parent", cgroup_parent_}}};
  bool started_ = false;
};

TEST_F(ContainersApi, RunRmPrintsTheOutputAndLeavesNothing) {
  auto r = docker(str_cat("run --rm ", kImage, " echo hi"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(without_warnings(r.output), "hi\n");
  EXPECT_EQ(trimmed(ok("ps -a -q")), "");
}

TEST_F(ContainersApi, TheCreateWarningNamesTheMissingBridge) {
  auto r = docker(str_cat("run --rm ", kImage, " true"));
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.output, "WARNING: bridge networking is not available")) << r.output;
  r = docker(str_cat("run --rm --network none ", kImage, " true"));
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(contains(r.output, "WARNING")) << r.output;
}

TEST_F(ContainersApi, RunExitsWithTheContainersCode) {
  auto r = docker(str_cat("run --network none ", kImage, " sh -c 'exit 3'"));
  EXPECT_EQ(r.status, 3) << r.output;
  auto id = trimmed(ok("ps -a -q -l"));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(inspect(id, "{{.State.Status}} {{.State.ExitCode}}"), "exited 3");
}

TEST_F(ContainersApi, StartFailuresExitAsDockers) {
  auto r = docker(str_cat("run --rm --network none ", kImage, " nosuch"));
  EXPECT_EQ(r.status, 127) << r.output;
  EXPECT_TRUE(contains(r.output, "exec: \"nosuch\": executable file not found in $PATH"))
      << r.output;
  r = docker(str_cat("run --rm --network none ", kImage, " /etc/passwd"));
  EXPECT_EQ(r.status, 126) << r.output;
  EXPECT_TRUE(contains(r.output, "permission denied")) << r.output;
  // --rm containers that could not start are removed, as docker's.
  EXPECT_EQ(trimmed(ok("ps -a -q")), "");
  // Without --rm the container stays, created, with the error.
  r = docker(str_cat("run --name failed --network none ", kImage, " /nosuch/bin"));
  EXPECT_EQ(r.status, 127) << r.output;
  EXPECT_EQ(inspect("failed", "{{.State.Status}} {{.State.ExitCode}}"), "created 127");
  EXPECT_TRUE(contains(inspect("failed", "{{.State.Error}}"), "no such file or directory"));
}

TEST_F(ContainersApi, MissingImageExits125) {
  auto r = docker("run --rm nosuch/image:v1 true");
  EXPECT_EQ(r.status, 125) << r.output;
  EXPECT_TRUE(contains(r.output, "nosuch/image:v1")) << r.output;
}

TEST_F(ContainersApi, NameConflictIs409) {
  ok(str_cat("create --name twice --network none ", kImage, " true"));
  auto r = docker(str_cat("create --name twice --network none ", kImage, " true"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.output, "Conflict. The container name \"/twice\" is already in use"))
      << r.output;
}

TEST_F(ContainersApi, DetachedLogsPsTopPauseStopRm) {
  auto id = trimmed(ok(str_cat("run -d --name ticker --network none ", kImage,
                               " sh -c 'i=0; while true; do echo tick$i; i=$((i+1)); "
                               "sleep 0.05; done'")));
  id = trimmed(without_warnings(id));
  ASSERT_EQ(id.size(), 64u) << id;
  EXPECT_TRUE(eventually("ticker", "{{.State.Running}}", "true"));
  // Bounded wait for some output.
  std::string logs;
  for (int i = 0; i < 100 && !contains(logs, "tick3"); ++i) {
    logs = ok("logs ticker");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(logs.starts_with("tick0\ntick1\ntick2\ntick3\n")) << logs;
  EXPECT_EQ(ok("logs --tail 1 ticker").size() > 0, true);
  auto ps = ok("ps --format '{{.Names}} {{.Image}} {{.Status}}'");
  EXPECT_TRUE(contains(ps, "ticker berth/busybox Up")) << ps;
  auto top = ok("top ticker");
  EXPECT_TRUE(contains(top, "sh -c")) << top;
  ok("pause ticker");
  EXPECT_EQ(inspect("ticker", "{{.State.Status}} {{.State.Paused}}"), "paused true");
  ok("unpause ticker");
  EXPECT_EQ(inspect("ticker", "{{.State.Status}} {{.State.Paused}}"), "running false");
  // sh as pid 1 ignores SIGTERM: stop ends with SIGKILL after the timeout.
  ok("stop -t 1 ticker");
  EXPECT_EQ(inspect("ticker", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
  // Logs stay readable after the exit.
  EXPECT_TRUE(ok("logs ticker").starts_with("tick0\n"));
  ok("rm ticker");
  EXPECT_EQ(trimmed(ok("ps -a -q")), "");
  auto r = docker("inspect ticker");
  EXPECT_NE(r.status, 0);
}

TEST_F(ContainersApi, StdinWithDashI) {
  auto r = docker(str_cat("run --rm -i --network none ", kImage, " sh -c 'cat; echo done'"),
                  "hello\nworld\n");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(without_warnings(r.output), "hello\nworld\ndone\n");
}

TEST_F(ContainersApi, TerminalWithDashT) {
  if (!have_tool("script")) GTEST_SKIP() << "script (util-linux) not installed";
  std::string cmd =
      str_cat("env -u DOCKER_CONTEXT DOCKER_HOST=", daemon_.host_url(),
              " DOCKER_CONFIG=", t_.path(), "/dockercfg timeout -k 5 60 script -qec ",
              shell_quote(str_cat(kDocker, " run --rm -t --network none ", kImage, " tty")),
              " /dev/null </dev/null");
  auto r = run_command(cmd);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "/dev/pts/0")) << r.output;
}

// `docker run -it IMAGE sh` in a terminal, driven through tmux: the prompt
// comes, typed commands run, the terminal has the pane's size, and the exit
// code of the shell is docker's.
TEST_F(ContainersApi, InteractiveShellInTmux) {
  if (!have_tool("tmux")) GTEST_SKIP() << "tmux not installed";
  const std::string tmux = str_cat("tmux -L berth-test-", ::getpid(), " ");
  struct Server {  // the private tmux server goes, whatever happens
    std::string tmux;
    ~Server() { run_command(tmux + "kill-server 2>/dev/null"); }
  } server{tmux};
  std::string cmd = str_cat("env -u DOCKER_CONTEXT DOCKER_HOST=", daemon_.host_url(),
                            " DOCKER_CONFIG=", t_.path(), "/dockercfg ", kDocker,
                            " run -it --rm --network none ", kImage, " sh; echo EXIT=$?; sleep 60");
  auto r = run_command(str_cat(tmux, "new-session -d -s t -x 100 -y 30 ", shell_quote(cmd)));
  ASSERT_EQ(r.status, 0) << r.output;
  auto screen = [&] { return run_command(tmux + "capture-pane -p -t t").output; };
  auto wait_for = [&](const std::string& text) {  // bounded: 15 s
    for (int i = 0; i < 150; ++i) {
      if (contains(screen(), text)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  ASSERT_TRUE(wait_for("/ #")) << screen() << daemon_.log();
  run_command(tmux + "send-keys -t t 'echo hello-$((6*7)); stty size' Enter");
  EXPECT_TRUE(wait_for("hello-42")) << screen();
  std::string size =
      trimmed(run_command(tmux + "display -p -t t '#{pane_height} #{pane_width}'").output);
  EXPECT_TRUE(wait_for("\n" + size)) << "stty size in the container should be " << size << "\n"
                                     << screen();
  run_command(tmux + "send-keys -t t 'exit 5' Enter");
  EXPECT_TRUE(wait_for("EXIT=5")) << screen();
}

TEST_F(ContainersApi, EnvWorkdirAndUser) {
  auto r = docker(str_cat("run --rm --network none -e FOO=bar -w /work/here -u 1000:100 ", kImage,
                          " sh -c 'echo $FOO $(pwd) $(id -u) $(id -g) $HOME; "
                          "echo $PATH; cat /etc/hostname | wc -c'"));
  EXPECT_EQ(r.status, 0) << r.output;
  const std::string out = without_warnings(r.output);
  auto lines = split(out, '\n');
  ASSERT_GE(lines.size(), 3u) << r.output;
  EXPECT_EQ(lines[0], "bar /work/here 1000 100 /");
  EXPECT_EQ(lines[1], "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  EXPECT_EQ(trimmed(lines[2]), "13");  // 12 hex digits and a newline
  // A named user comes from the image's /etc/passwd.
  r = docker(str_cat("run --rm --network none -u nobody ", kImage, " id -un"));
  EXPECT_EQ(without_warnings(r.output), "nobody\n") << r.output;
  r = docker(str_cat("run --rm --network none -u nosuchuser ", kImage, " true"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.output, "nosuchuser")) << r.output;
}

TEST_F(ContainersApi, SecureDefaults) {
  // Docker's default capability set (0xa80425fb) in the bounding set, and a
  // seccomp filter (mode 2).
  auto r = docker(str_cat("run --rm --network none ", kImage,
                          " sh -c 'grep -E \"^(CapBnd|Seccomp):\" /proc/self/status'"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "CapBnd:\t00000000a80425fb")) << r.output;
  EXPECT_TRUE(contains(r.output, "Seccomp:\t2")) << r.output;
  r = docker(str_cat("run --rm --network none --privileged ", kImage,
                     " sh -c 'grep -E \"^Seccomp:\" /proc/self/status'"));
  EXPECT_TRUE(contains(r.output, "Seccomp:\t0")) << r.output;
  // /proc/timer_list is masked (it has text on the host), /proc/sys
  // read-only, the root writable.
  if (berth::sys::read_small_file("/proc/timer_list").empty())
    GTEST_SKIP() << "no /proc/timer_list to check masking with";
  r = docker(str_cat("run --rm --network none ", kImage,
                     " sh -c 'echo masked=$(wc -c </proc/timer_list); "
                     "echo 1 >/proc/sys/kernel/domainname || echo ro; touch /x && echo rw'"));
  EXPECT_TRUE(contains(r.output, "masked=0\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "ro\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "rw\n")) << r.output;
  r = docker(
      str_cat("run --rm --network none --read-only ", kImage, " sh -c 'touch /x || echo refused'"));
  EXPECT_TRUE(contains(r.output, "refused")) << r.output;
}

TEST_F(ContainersApi, MemoryLimitOomKills) {
  auto cg = berth::sys::read_small_file("/proc/self/cgroup");
  if (!contains(cg, ":memory:"))
    GTEST_SKIP() << "no v1 memory controller (the v2 path is covered by the cgroup tests)";
  // Doubling a shell string: 32 MiB is reached within a few steps.
  auto r = docker(str_cat("run --name hog -m 32m --network none ", kImage,
                          " sh -c 'x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done'"));
  EXPECT_EQ(r.status, 137) << r.output;
  EXPECT_EQ(inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}"),
            "true 137 33554432");
}

TEST_F(ContainersApi, RestartPolicyOnFailureRetries) {
  ok(str_cat("run -d --name flaky --network none --restart on-failure:2 ", kImage,
             " sh -c 'exit 1'"));
  EXPECT_TRUE(eventually("flaky", "{{.State.Status}} {{.RestartCount}}", "exited 2"));
  EXPECT_EQ(inspect("flaky", "{{.State.ExitCode}}"), "1");
}

TEST_F(ContainersApi, WaitPrintsTheExitCode) {
  ok(str_cat("run -d --name waiter --network none ", kImage, " sh -c 'sleep 0.2; exit 7'"));
  auto out = ok("wait waiter");
  EXPECT_EQ(trimmed(out), "7");
}

TEST_F(ContainersApi, StateSurvivesADaemonRestart) {
  ok(str_cat("run --name before --network none ", kImage, " echo persisted"));
  ok(str_cat("run -d --name sleeper --stop-timeout 1 --network none ", kImage, " sleep 1000"));
  ASSERT_EQ(daemon_.stop(std::chrono::seconds(30)), 0) << daemon_.log();
  ASSERT_TRUE(daemon_.start());
  EXPECT_EQ(inspect("before", "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");
  EXPECT_EQ(ok("logs before"), "persisted\n");
  // Without live-restore, the daemon stops its containers when it stops.
  EXPECT_EQ(inspect("sleeper", "{{.State.Running}}"), "false");
  // And they start again.
  ok("start sleeper");
  EXPECT_EQ(inspect("sleeper", "{{.State.Running}}"), "true");
  ok("rm -f sleeper before");
}

// The daemon's own stop at shutdown is not a user's: `always` and
// `unless-stopped` containers run again after a daemon restart, one a user
// stopped does not (docker's rule).
TEST_F(ContainersApi, RestartPoliciesHoldAcrossADaemonRestart) {
  for (const char* n : {"keep", "always"})
    ok(str_cat("run -d --name ", n, " --restart ", std::string(n) == "keep" ? "unless-stopped" : n,
               " --stop-timeout 1 --network none ", kImage, " sleep 1000"));
  ok(str_cat("run -d --name stopped --restart unless-stopped --stop-timeout 1 --network none ",
             kImage, " sleep 1000"));
  ok("stop -t 1 stopped");
  ASSERT_EQ(daemon_.stop(std::chrono::seconds(30)), 0) << daemon_.log();
  ASSERT_TRUE(daemon_.start());
  EXPECT_TRUE(eventually("keep", "{{.State.Running}}", "true")) << daemon_.log();
  EXPECT_TRUE(eventually("always", "{{.State.Running}}", "true")) << daemon_.log();
  EXPECT_EQ(inspect("stopped", "{{.State.Running}}"), "false");
  ok("rm -f keep always stopped");
}

TEST_F(ContainersApi, LogsFollowEndsWhenTheDaemonStops) {
  ok(str_cat("run -d --name ticker --stop-timeout 1 --network none ", kImage,
             " sh -c 'while true; do echo tick; sleep 0.1; done'"));
  auto fd = berth::testing::connect_unix(daemon_.socket_path());
  ASSERT_TRUE(fd);
  std::string req =
      "GET /v1.44/containers/ticker/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(fd.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  for (int i = 0; i < 50 && !contains(got, "tick"); ++i) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);  // bounded by the socket's timeout
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ASSERT_TRUE(contains(got, "tick")) << got;
  // A follower does not hold the shutdown for its grace period: the stream
  // ends and the daemon stops cleanly.
  ASSERT_EQ(daemon_.stop(std::chrono::seconds(30)), 0) << daemon_.log();
  EXPECT_FALSE(contains(daemon_.log(), "still open after the grace period")) << daemon_.log();
  bool eof = false;
  for (int i = 0; i < 1000; ++i) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) {
      eof = n == 0;
      break;
    }
  }
  EXPECT_TRUE(eof);
  ASSERT_TRUE(daemon_.start());
  ok("rm -f ticker");
}

// The daemon's own cgroup in the v1 memory hierarchy ("" when none).
std::string memory_cgroup_of(pid_t pid) {
  auto text = berth::sys::read_small_file(str_cat("/proc/", pid, "/cgroup"));
  for (auto line : split(text, '\n')) {
    auto parts = split(line, ':');
    if (parts.size() == 3 && (parts[1] == "memory" || contains(parts[1], ",memory")))
      return std::string(parts[2]);
  }
  return "";
}

// A start answers where its time went (berthd's own header, for start
// latency tools): every phase, each a number of microseconds.
// Network mode none: a namespace of its own with loopback only, up; two
// containers never share one (they come from the daemon's ready pool).
TEST_F(ContainersApi, NetworkNoneHasItsOwnLoopback) {
  auto a = docker(str_cat("run --rm --network none ", kImage,
                          " sh -c 'readlink /proc/self/ns/net; ip -o link'"));
  auto b = docker(str_cat("run --rm --network none ", kImage, " readlink /proc/self/ns/net"));
  ASSERT_EQ(a.status, 0) << a.output;
  ASSERT_EQ(b.status, 0) << b.output;
  auto lines = split(trimmed(a.output), '\n');
  ASSERT_EQ(lines.size(), 2u) << a.output;
  EXPECT_TRUE(contains(lines[1], "lo: <LOOPBACK,UP,LOWER_UP>")) << a.output;
  std::error_code ec;
  std::string host = std::filesystem::read_symlink("/proc/self/ns/net", ec).string();
  EXPECT_NE(std::string(lines[0]), trimmed(b.output));
  EXPECT_NE(std::string(lines[0]), host);
  EXPECT_NE(trimmed(b.output), host);
}

TEST_F(ContainersApi, StartAnswersItsPhases) {
  std::string id = trimmed(ok(str_cat("create --network none ", kImage, " true")));
  ASSERT_FALSE(id.empty());
  std::string resp = berth::testing::http_roundtrip(
      daemon_.socket_path(), str_cat("POST /v1.44/containers/", id,
                                     "/start HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(resp.starts_with("HTTP/1.1 204")) << resp;
  auto at = resp.find("Berth-Start-Phases: ");
  ASSERT_NE(at, std::string::npos) << resp;
  std::string value(resp.substr(at + 20, resp.find("\r\n", at) - at - 20));
  std::vector<std::string> names;
  uint64_t total = 0;
  for (auto item : split(value, ',')) {
    auto eq = item.find('=');
    ASSERT_NE(eq, std::string_view::npos) << value;
    names.emplace_back(item.substr(0, eq));
    auto us = parse_number<uint64_t>(item.substr(eq + 1));
    ASSERT_TRUE(us.has_value()) << value;
    total += *us;
  }
  EXPECT_EQ(join(names, ","),
            "queue,cgroup,prepare,log,clone,join,rootfs,mounts,pivot,setup,exec,persist,resume");
  EXPECT_GT(total, 0u) << value;
  EXPECT_EQ(trimmed(ok(str_cat("wait ", id))), "0");
  ok(str_cat("rm ", id));
}

// A container's own --cgroup-parent (relative: below the daemon's cgroup),
// left empty when it is gone; a parent that climbs out is refused at create.
TEST_F(ContainersApi, ContainerCgroupParent) {
  std::string custom = cgroup_parent_ + "/custom";
  std::string id = trimmed(
      ok(str_cat("run -d --cgroup-parent ", custom, " --network none ", kImage, " sleep 1000")));
  ASSERT_EQ(id.size(), 64u) << id;
  std::string cg = ok(str_cat("run --rm --cgroup-parent ", custom, " --network none ", kImage,
                              " cat /proc/self/cgroup"));
  EXPECT_TRUE(contains(cg, str_cat("/", custom, "/"))) << cg;
  // The memory hierarchy: the limit applies there.
  std::string own = memory_cgroup_of(daemon_.pid());
  std::string dir = str_cat("/sys/fs/cgroup/memory", own == "/" ? "" : own, "/", custom, "/", id);
  std::error_code ec;
  if (!own.empty()) {
    EXPECT_TRUE(std::filesystem::is_directory(dir, ec)) << dir;
  }
  ok(str_cat("rm -f ", id));
  if (!own.empty()) {
    for (int i = 0; i < 50 && std::filesystem::exists(dir, ec); ++i)  // bounded: 5 s
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(std::filesystem::exists(dir, ec)) << dir;
  }
  auto bad = docker(str_cat("create --cgroup-parent ../escape ", kImage, " true"));
  EXPECT_NE(bad.status, 0);
  EXPECT_TRUE(contains(bad.output, "CgroupParent")) << bad.output;
  // The custom parent stays, as docker's do: this test's parent goes in TearDown.
  run_command(str_cat("find /sys/fs/cgroup -maxdepth 9 -depth -type d -path '*/", custom,
                      "' -exec rmdir {} + 2>/dev/null"));
}

TEST_F(ContainersApi, ManyRunsLeakNothing) {
  // Warm up (first-use allocations, seccomp cache), then count.
  ok(str_cat("run --rm --network none ", kImage, " true"));
  int fds_before = berth::testing::count_fds(daemon_.pid());
  constexpr int kRuns = 40;
  for (int i = 0; i < kRuns; ++i) {
    auto r = docker(str_cat("run --rm ", kImage, " true"));
    ASSERT_EQ(r.status, 0) << r.output;
  }
  for (int i = 0; i < 10; ++i) {
    auto r = docker(str_cat("run --rm -m 64m --network none ", kImage, " sh -c 'exit 1'"));
    ASSERT_EQ(r.status, 1) << r.output;
  }
  EXPECT_EQ(trimmed(ok("ps -a -q")), "");
  // The daemon may still be closing the last client's connections: poll
  // (bounded) until it holds no more fds than before.
  int fds_after = 0;
  for (int i = 0; i < 50; ++i) {
    fds_after = berth::testing::count_fds(daemon_.pid());
    if (fds_after <= fds_before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_LE(fds_after, fds_before);
  // No container cgroup left below the daemon's parent.
  std::string cg = memory_cgroup_of(daemon_.pid());
  std::string parent = str_cat("/sys/fs/cgroup/memory", cg == "/" ? "" : cg, "/", cgroup_parent_);
  std::error_code ec;
  if (!cg.empty()) {
    // The daemon made it for the containers above.
    EXPECT_TRUE(std::filesystem::is_directory(parent, ec)) << parent;
    std::string left;
    for (int i = 0; i < 50; ++i) {  // bounded: 5 s
      left.clear();
      for (auto& e : std::filesystem::directory_iterator(parent, ec))  // spares are no leak
        if (e.is_directory() && !e.path().filename().string().starts_with(".spare-"))
          left += e.path().filename().string() + " ";
      if (left.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(left, "") << parent << "\n" << daemon_.log();
  }
  // Root filesystems are mounted only inside the containers' namespaces.
  auto mounts = berth::sys::read_small_file("/proc/self/mountinfo");
  EXPECT_FALSE(contains(mounts, daemon_.root())) << mounts;
  // No container process left.
  auto r = run_command(str_cat("pgrep -P ", daemon_.pid()));
  EXPECT_EQ(trimmed(r.output), "");
}

}  // namespace
}  // namespace berth::api
