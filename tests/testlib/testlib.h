// Shared test helpers: temp dirs that clean up after themselves (mounts
// included), a berthd process on a private root and socket, raw socket
// clients for protocol tests, and fd accounting.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/base/unique_fd.h"

namespace berth::testing {

// Skips the current test unless running as root.
#define BERTH_REQUIRE_ROOT()                            \
  do {                                                  \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root"; \
  } while (0)

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "berth-test");
  ~TempDir();  // unmounts anything below, then removes the tree
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Unmounts every mount point at or below dir (deepest first).
void unmount_below(const std::string& dir);

// Number of open fds of a process (self when pid == 0).
int count_fds(pid_t pid = 0);

std::string build_dir();   // BERTH_BUILD_DIR
std::string source_dir();  // BERTH_SOURCE_DIR

// Runs a shell command; returns exit status and captures stdout(+stderr).
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult run_command(const std::string& cmd);

// A berthd child process on a temp root and unix socket (plus optional TCP
// port). Stop() sends SIGTERM and waits; the destructor kills if needed.
class Daemon {
 public:
  struct Options {
    std::vector<std::string> extra_args;
    bool tcp = false;
    int threads = 2;
  };
  Daemon() : Daemon(Options{}) {}
  explicit Daemon(Options opts);
  ~Daemon();

  // Starts and waits until /_ping answers (or fails the test).
  ::testing::AssertionResult start();
  // SIGTERM, then wait up to timeout; returns the exit status (or -1).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_; }
  std::string host_url() const { return "unix://" + socket_; }
  int tcp_port() const { return port_; }
  const std::string& root() const { return root_; }
  std::string log() const;  // the daemon's stderr so far

 private:
  Options opts_;
  TempDir dir_;
  std::string root_, socket_, log_path_;
  // Unless the test names one: a parent cgroup of this daemon's own, so
  // daemons of tests running beside it never share one; removed at the end.
  std::string cgroup_parent_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Connects a blocking unix socket client (5 s receive timeout).
unique_fd connect_unix(const std::string& path);
unique_fd connect_tcp(int port);
bool send_all(int fd, std::string_view data);
// Reads until the peer closes or timeout; returns what arrived.
std::string read_until_close(int fd, std::chrono::milliseconds timeout);
// Reads one HTTP response (head + Content-Length body); "" on timeout/EOF.
std::string read_response(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Sends req on a fresh connection and returns the first response.
std::string http_roundtrip(const std::string& socket, const std::string& req);
// A free TCP port on 127.0.0.1.
int free_port();

}  // namespace berth::testing
