#include "tests/testlib/testlib.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace berth::testing {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  char* p = ::mkdtemp(tmpl.data());
  if (!p) throw std::runtime_error("mkdtemp failed");
  path_ = p;
}

TempDir::~TempDir() {
  unmount_below(path_);
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void unmount_below(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> points;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, mp;
    ss >> id >> parent >> dev >> root >> mp;
    if (mp == dir || mp.rfind(dir + "/", 0) == 0) points.push_back(mp);
  }
  std::sort(points.begin(), points.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& p : points) ::umount2(p.c_str(), MNT_DETACH);
}

int count_fds(pid_t pid) {
  std::string path = pid == 0 ? "/proc/self/fd" : "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(path.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return pid == 0 ? n - 1 : n;
}

std::string build_dir() {
  return BERTH_BUILD_DIR;
}
std::string source_dir() {
  return BERTH_SOURCE_DIR;
}

CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.output.append(buf, n);
  int st = ::pclose(f);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

Daemon::Daemon(Options opts) : opts_(std::move(opts)), dir_("berthd") {
  root_ = dir_ / "root";
  socket_ = dir_ / "berth.sock";
  log_path_ = dir_ / "berthd.log";
  bool named = false;
  for (const auto& a : opts_.extra_args) named = named || a == "--cgroup-parent";
  if (!named) cgroup_parent_ = "berth-test-" + dir_.path().substr(dir_.path().rfind('/') + 1);
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (!cgroup_parent_.empty()) {
    // Deepest first: containers' cgroups a killed daemon left, then ours.
    run_command("find /sys/fs/cgroup -maxdepth 10 -depth -type d \\( -path '*/" + cgroup_parent_ +
                "' -o -path '*/" + cgroup_parent_ + "/*' \\) -exec rmdir {} + 2>/dev/null");
  }
}

::testing::AssertionResult Daemon::start() {
  std::vector<std::string> args = {
      build_dir() + "/berthd",      "--root", root_, "--host", "unix://" + socket_, "--threads",
      std::to_string(opts_.threads)};
  if (opts_.tcp) {
    port_ = free_port();
    args.push_back("--host");
    args.push_back("tcp://127.0.0.1:" + std::to_string(port_));
  }
  if (!cgroup_parent_.empty()) {
    args.push_back("--cgroup-parent");
    args.push_back(cgroup_parent_);
  }
  for (const auto& a : opts_.extra_args) args.push_back(a);
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    ::dup2(fd, 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return ::testing::AssertionFailure() << "berthd exited early: " << log();
    }
    unique_fd fd = connect_unix(socket_);
    if (fd) {
      send_all(fd.get(), "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
      std::string r = read_response(fd.get());
      if (r.rfind("HTTP/1.1 200", 0) == 0) return ::testing::AssertionSuccess();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ::testing::AssertionFailure() << "berthd did not answer: " << log();
}

int Daemon::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

std::string Daemon::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

static void set_timeout(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

unique_fd connect_unix(const std::string& path) {
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return unique_fd();
  set_timeout(fd.get());
  return fd;
}

unique_fd connect_tcp(int port) {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return unique_fd();
  set_timeout(fd.get());
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string read_until_close(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string read_response(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  size_t need = std::string::npos;
  for (;;) {
    if (need == std::string::npos) {
      size_t he = out.find("\r\n\r\n");
      if (he != std::string::npos) {
        size_t len = 0;
        std::string lower = out.substr(0, he);
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        size_t cl = lower.find("content-length:");
        if (cl != std::string::npos) len = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
        need = he + 4 + len;
      }
    }
    if (need != std::string::npos && out.size() >= need) return out.substr(0, need);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string http_roundtrip(const std::string& socket, const std::string& req) {
  unique_fd fd = connect_unix(socket);
  if (!fd) return {};
  send_all(fd.get(), req);
  return read_response(fd.get());
}

int free_port() {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace berth::testing
