// berthd as a process (testlib Daemon): /_ping, /version and /info against
// the real host, the socket and root lock, stale sockets, load over unix
// and TCP without fd leaks, SIGTERM with requests in flight, and the berth
// CLI against it.
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/base/strings.h"
#include "tests/testlib/testlib.h"

namespace berth {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::connect_tcp;
using testing::connect_unix;
using testing::Daemon;
using testing::read_response;
using testing::read_until_close;
using testing::run_command;
using testing::send_all;
using testing::TempDir;

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

struct Reply {
  int status = 0;
  std::string head, body;
  explicit Reply(const std::string& raw) {
    size_t he = raw.find("\r\n\r\n");
    if (he == std::string::npos || !raw.starts_with("HTTP/1.1 ")) return;
    head = raw.substr(0, he + 2);
    body = raw.substr(he + 4);
    status = parse_number<int>(std::string_view(raw).substr(9, 3)).value_or(0);
  }
  std::optional<std::string> header(std::string_view name) const {
    for (auto line : split(head, '\n')) {
      auto kv = split_once(trim(line), ':');
      if (kv && iequals(kv->first, name)) return std::string(trim(kv->second));
    }
    return std::nullopt;
  }
};

Reply get(const std::string& socket, std::string_view target) {
  return Reply(
      testing::http_roundtrip(socket, str_cat("GET ", target, " HTTP/1.1\r\nHost: api\r\n\r\n")));
}

std::string kernel_release() {
  struct utsname u;
  return ::uname(&u) == 0 ? u.release : "";
}

int64_t meminfo_total() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("MemTotal:")) {
      std::string_view v = trim(std::string_view(line).substr(9));
      if (v.ends_with("kB")) v = trim(v.substr(0, v.size() - 2));
      return parse_number<int64_t>(v).value_or(0) * 1024;
    }
  return 0;
}

std::string host_cgroup_version() {
  struct statfs s;
  return ::statfs("/sys/fs/cgroup", &s) == 0 && s.f_type == 0x63677270 ? "2" : "1";
}

// The daemon's fd count once it stops changing (connections just closed
// by clients take a moment to be closed on the daemon's side too).
int settled_fd_count(pid_t pid) {
  int last = testing::count_fds(pid), same = 0;
  for (int i = 0; i < 100 && same < 3; ++i) {
    std::this_thread::sleep_for(20ms);
    int now = testing::count_fds(pid);
    same = now == last ? same + 1 : 0;
    last = now;
  }
  return last;
}

// True once the peer closed (EOF or reset) with nothing more to read.
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

bool log_has_errors(const std::string& log) {
  return log.find("Z error ") != std::string::npos;
}

std::string berth_cmd(const std::string& host, const std::string& args) {
  return str_cat("timeout 30 ", testing::build_dir(), "/berth --host ", host, " ", args);
}

// --- the system endpoints ------------------------------------------------------

TEST(BerthdTest, PingAnswersWithDockerHeaders) {
  Daemon d;
  ASSERT_TRUE(d.start());
  Reply r = get(d.socket_path(), "/_ping");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "OK");
  EXPECT_EQ(r.header("Api-Version"), "1.44");
  EXPECT_EQ(r.header("Ostype"), "linux");
  EXPECT_EQ(r.header("Docker-Experimental"), "false");
  EXPECT_EQ(r.header("Cache-Control"), "no-cache, no-store, must-revalidate");
  EXPECT_EQ(r.header("Pragma"), "no-cache");
  ASSERT_TRUE(r.header("Server"));
  EXPECT_TRUE(r.header("Server")->starts_with("berth/")) << *r.header("Server");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Content-Length"), "2");
  // Versioned the way the docker CLI asks.
  EXPECT_EQ(get(d.socket_path(), "/v1.44/_ping").status, 200);
  EXPECT_EQ(d.stop(), 0);
}

TEST(BerthdTest, HeadPingHasHeadersAndNoBody) {
  Daemon d;
  ASSERT_TRUE(d.start());
  unique_fd fd = connect_unix(d.socket_path());
  ASSERT_TRUE(fd);
  // HEAD then GET on one connection: if HEAD carried a body the second
  // response would not start where it should.
  ASSERT_TRUE(send_all(fd.get(),
                       "HEAD /_ping HTTP/1.1\r\nHost: api\r\n\r\nGET /_ping HTTP/1.1\r\nHost: "
                       "api\r\n\r\n"));
  std::string both;
  auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline && !both.ends_with("\r\n\r\nOK"))
    both += read_until_close(fd.get(), 50ms);
  Reply head(both);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Api-Version"), "1.44");
  EXPECT_EQ(head.header("Content-Length"), "0");
  EXPECT_EQ(head.header("Cache-Control"), "no-cache, no-store, must-revalidate");
  EXPECT_TRUE(head.body.starts_with("HTTP/1.1 200")) << "HEAD carried a body: " << head.body;
  EXPECT_TRUE(head.body.ends_with("\r\n\r\nOK")) << head.body;
  fd.reset();
  EXPECT_EQ(d.stop(), 0);
}

TEST(BerthdTest, VersionReportsTheHost) {
  Daemon d;
  ASSERT_TRUE(d.start());
  Reply r = get(d.socket_path(), "/v1.44/version");
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  simdjson::dom::parser p;
  simdjson::padded_string text(r.body);
  simdjson::dom::element v;
  ASSERT_EQ(p.parse(text).get(v), simdjson::SUCCESS) << r.body;
  std::string_view s;
  ASSERT_EQ(v["ApiVersion"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "1.44");
  ASSERT_EQ(v["MinAPIVersion"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "1.24");
  ASSERT_EQ(v["Os"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "linux");
  ASSERT_EQ(v["KernelVersion"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, kernel_release());
  ASSERT_EQ(v["Version"].get(s), simdjson::SUCCESS);
  EXPECT_FALSE(s.empty());
#if defined(__x86_64__)
  ASSERT_EQ(v["Arch"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "amd64");
#endif
  ASSERT_EQ(v["Components"].at(0)["Name"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "Engine");
  ASSERT_EQ(v["Components"].at(0)["Details"]["ApiVersion"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "1.44");
  EXPECT_EQ(d.stop(), 0);
}

TEST(BerthdTest, InfoReportsTheHost) {
  Daemon d;
  ASSERT_TRUE(d.start());
  Reply r = get(d.socket_path(), "/v1.44/info");
  ASSERT_EQ(r.status, 200) << r.head;
  simdjson::dom::parser p;
  simdjson::padded_string text(r.body);
  simdjson::dom::element v;
  ASSERT_EQ(p.parse(text).get(v), simdjson::SUCCESS) << r.body;
  std::string_view s;
  int64_t n = 0;
  ASSERT_EQ(v["KernelVersion"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, kernel_release());
  auto nproc = run_command("nproc");
  ASSERT_EQ(nproc.status, 0);
  ASSERT_EQ(v["NCPU"].get(n), simdjson::SUCCESS);
  EXPECT_EQ(std::to_string(n), std::string(trim(nproc.output)));
  ASSERT_EQ(v["DockerRootDir"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, d.root());
  ASSERT_EQ(v["MemTotal"].get(n), simdjson::SUCCESS);
  EXPECT_GT(n, 0);
  EXPECT_EQ(n, meminfo_total());
  ASSERT_EQ(v["CgroupVersion"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, host_cgroup_version());
  ASSERT_EQ(v["OSType"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "linux");
  ASSERT_EQ(v["ID"].get(s), simdjson::SUCCESS);
  EXPECT_FALSE(s.empty());
  std::string id(s);
  EXPECT_EQ(d.stop(), 0);

  // The engine ID is kept in the root across restarts.
  ASSERT_TRUE(d.start());
  Reply again = get(d.socket_path(), "/info");
  simdjson::padded_string text2(again.body);
  ASSERT_EQ(p.parse(text2)["ID"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, id);
  EXPECT_EQ(d.stop(), 0);
}

// --- socket and root --------------------------------------------------------------

TEST(BerthdTest, UnixSocketMode0660) {
  Daemon d;
  ASSERT_TRUE(d.start());
  struct stat st;
  ASSERT_EQ(::lstat(d.socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u) << std::oct << (st.st_mode & 07777);
  EXPECT_EQ(d.stop(), 0);
  // A clean stop removes the socket.
  EXPECT_NE(::lstat(d.socket_path().c_str(), &st), 0);
}

TEST(BerthdTest, SecondDaemonOnTheSameRootIsRefused) {
  Daemon d;
  ASSERT_TRUE(d.start());
  TempDir other("berthd-second");
  std::string sock = other / "second.sock";
  auto r = run_command(str_cat("timeout 20 ", testing::build_dir(), "/berthd --root ", d.root(),
                               " --host unix://", sock));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("already running"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(std::to_string(d.pid())), std::string::npos)
      << "message should name the running daemon: " << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  struct stat st;
  EXPECT_NE(::lstat(sock.c_str(), &st), 0) << "refused daemon created its socket";
  // The first one is unaffected.
  EXPECT_EQ(get(d.socket_path(), "/_ping").status, 200);
  EXPECT_EQ(d.stop(), 0);
}

TEST(BerthdTest, SecondDaemonOnTheSameSocketIsRefused) {
  Daemon d;
  ASSERT_TRUE(d.start());
  TempDir other("berthd-second");
  auto r = run_command(str_cat("timeout 20 ", testing::build_dir(), "/berthd --root ",
                               other / "root", " --host unix://", d.socket_path()));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("already in use"), std::string::npos) << r.output;
  EXPECT_EQ(get(d.socket_path(), "/_ping").status, 200);
  EXPECT_EQ(d.stop(), 0);
}

TEST(BerthdTest, StaleSocketFromAKilledDaemonIsReplaced) {
  Daemon d;
  ASSERT_TRUE(d.start());
  ASSERT_EQ(::kill(d.pid(), SIGKILL), 0);
  EXPECT_EQ(d.stop(), 128 + SIGKILL);  // reaps it
  struct stat st;
  ASSERT_EQ(::lstat(d.socket_path().c_str(), &st), 0) << "expected a stale socket file";
  // The kernel tears a dead process's io_uring down asynchronously; its
  // pending accept keeps the socket listening for a moment.
  EXPECT_TRUE(wait_for([&] { return !connect_unix(d.socket_path()); }, 5s))
      << "something still accepts on the socket of the killed daemon";
  ASSERT_TRUE(d.start());
  EXPECT_EQ(get(d.socket_path(), "/_ping").status, 200);
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(log_has_errors(d.log())) << d.log();
}

// --- load and fds -------------------------------------------------------------------

TEST(BerthdTest, ConcurrentClientsOverUnixAndTcpLeakNothing) {
  Daemon d(Daemon::Options{.tcp = true, .threads = 2});
  ASSERT_TRUE(d.start());
  ASSERT_GT(d.tcp_port(), 0);
  int before = settled_fd_count(d.pid());
  ASSERT_GT(before, 0);

  constexpr int kClients = 100, kRequests = 20;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int tcp = 0; tcp < 2; ++tcp) {
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, tcp, c] {
        unique_fd fd = tcp ? connect_tcp(d.tcp_port()) : connect_unix(d.socket_path());
        if (!fd) {
          failed.fetch_add(kRequests);
          return;
        }
        for (int i = 0; i < kRequests; ++i) {
          std::string target = (i + c) % 5 == 0 ? "/v1.44/version" : "/_ping";
          if (!send_all(fd.get(), str_cat("GET ", target, " HTTP/1.1\r\nHost: x\r\n\r\n"))) {
            failed.fetch_add(1);
            continue;
          }
          Reply r(read_response(fd.get()));
          if (r.status == 200 && !r.body.empty())
            ok.fetch_add(1);
          else
            failed.fetch_add(1);
        }
      });
    }
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ok.load(), 2 * kClients * kRequests);

  // Every client has closed: the daemon must be back where it started.
  EXPECT_TRUE(wait_for([&] { return testing::count_fds(d.pid()) == before; }, 5s))
      << "daemon holds " << testing::count_fds(d.pid()) << " fds, " << before << " before";
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(log_has_errors(d.log())) << d.log();
}

// --- SIGTERM --------------------------------------------------------------------------

TEST(BerthdTest, SigtermClosesIdleConnectionsAndExitsZero) {
  Daemon d;
  ASSERT_TRUE(d.start());
  unique_fd idle = connect_unix(d.socket_path());
  ASSERT_TRUE(idle);
  ASSERT_TRUE(send_all(idle.get(), "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(Reply(read_response(idle.get())).status, 200);
  EXPECT_EQ(d.stop(15s), 0);
  EXPECT_TRUE(closed_by_peer(idle.get(), 2s));
  EXPECT_FALSE(log_has_errors(d.log())) << d.log();
}

// A request whose body is still arriving when SIGTERM comes is answered
// once the body is complete, then the daemon exits 0.
TEST(BerthdTest, SigtermLetsARequestInFlightComplete) {
  Daemon d(Daemon::Options{.extra_args = {"--shutdown-timeout", "10"}});
  ASSERT_TRUE(d.start());
  unique_fd fd = connect_unix(d.socket_path());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(send_all(fd.get(), "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(Reply(read_response(fd.get())).status, 200);
  ASSERT_TRUE(send_all(fd.get(),
                       "POST /v1.44/containers/create HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n01234"));
  std::this_thread::sleep_for(100ms);  // let the daemon read the head

  std::atomic<int> exit_code{-2};
  std::thread stopper([&] { exit_code = d.stop(20s); });
  bool signalled =
      wait_for([&] { return d.log().find("received SIGTERM") != std::string::npos; }, 10s);
  EXPECT_TRUE(signalled) << d.log();
  EXPECT_EQ(exit_code.load(), -2) << "exited with a request in flight";
  bool sent = send_all(fd.get(), "56789");
  EXPECT_TRUE(sent);
  Reply r(read_response(fd.get()));
  EXPECT_EQ(r.status, 400) << r.head;  // answered: the body is not a container config
  EXPECT_TRUE(closed_by_peer(fd.get(), 5s)) << "connection not closed after the last response";
  stopper.join();
  EXPECT_EQ(exit_code.load(), 0);
  EXPECT_FALSE(log_has_errors(d.log())) << d.log();
}

TEST(BerthdTest, SigtermWithAStalledRequestExitsAfterTheGrace) {
  Daemon d(Daemon::Options{.extra_args = {"--shutdown-timeout", "1"}});
  ASSERT_TRUE(d.start());
  unique_fd fd = connect_unix(d.socket_path());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(send_all(fd.get(), "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(Reply(read_response(fd.get())).status, 200);
  // The body never completes.
  ASSERT_TRUE(send_all(fd.get(),
                       "POST /v1.44/containers/create HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: 100\r\n\r\n{"));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(d.stop(20s), 0);
  // The connection was cut (a 400 for the cut body may come first).
  read_until_close(fd.get(), 5s);
  char c;
  EXPECT_LE(::recv(fd.get(), &c, 1, MSG_DONTWAIT), 0);
  EXPECT_FALSE(log_has_errors(d.log())) << d.log();
}

// --- the berth CLI --------------------------------------------------------------------

TEST(BerthdTest, CliVersionAndInfo) {
  Daemon d;
  ASSERT_TRUE(d.start());
  auto v = run_command(berth_cmd(d.host_url(), "version"));
  EXPECT_EQ(v.status, 0) << v.output;
  EXPECT_NE(v.output.find("Server: berth"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("1.44"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find(kernel_release()), std::string::npos) << v.output;

  auto i = run_command(berth_cmd(d.host_url(), "info"));
  EXPECT_EQ(i.status, 0) << i.output;
  EXPECT_NE(i.output.find("Kernel Version: " + kernel_release()), std::string::npos) << i.output;
  EXPECT_NE(i.output.find("Root Dir: " + d.root()), std::string::npos) << i.output;
  EXPECT_EQ(d.stop(), 0);
}

TEST(BerthdTest, CliWithoutDaemonPrintsOneLineAndExits1) {
  TempDir dir("berth-cli");
  std::string out = dir / "stdout", err = dir / "stderr";
  auto r = run_command(
      str_cat("(", berth_cmd("unix:///nonexistent.sock", "info"), " >", out, " 2>", err, ")"));
  EXPECT_EQ(r.status, 1) << r.output;
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  std::string e = slurp(err);
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << "stderr: " << e;
  EXPECT_TRUE(e.ends_with("\n")) << e;
  EXPECT_NE(e.find("Cannot connect"), std::string::npos) << e;
  EXPECT_NE(e.find("/nonexistent.sock"), std::string::npos) << e;
  EXPECT_EQ(slurp(out), "");
}

}  // namespace
}  // namespace berth
