// The Docker API router: matching (exact, {param}, greedy {name*}), the
// /vX.Y prefix with docker's version errors, 404/405, HEAD falling back to
// GET, and the 501 answer of every endpoint of the v1.44 spec that berth has
// not built yet. Dispatch is tested end to end through a real
// io::http::Server on a reactor and a unix socket.
#include "api/server/router.h"

#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/server/api.h"
#include "api/server/errors.h"
#include "api/server/routes.h"
#include "core/base/strings.h"
#include "core/sys/host.h"
#include "io/http/server.h"
#include "io/net.h"
#include "io/reactor.h"
#include "tests/testlib/testlib.h"

namespace berth::api {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

io::Task<void> noop(Request&, Response& res) {
  res.send(200, "text/plain", "noop");
  co_return;
}

Handler noop_handler() {
  return [](Request& q, Response& s) { return noop(q, s); };
}

// --- matching, without a server ----------------------------------------------

TEST(RouterMatchTest, ExactRoute) {
  Router r;
  r.add("GET", "/_ping", noop_handler());
  auto m = r.match("GET", "/_ping");
  EXPECT_TRUE(m.handler);
  EXPECT_TRUE(m.path_known);
  EXPECT_TRUE(m.params.empty());
  EXPECT_FALSE(r.match("GET", "/_pong").handler);
  EXPECT_FALSE(r.match("GET", "/_pong").path_known);
}

TEST(RouterMatchTest, ParamSegment) {
  Router r;
  r.add("GET", "/containers/{id}/json", noop_handler());
  auto m = r.match("GET", "/containers/abc123/json");
  ASSERT_TRUE(m.handler);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "id");
  EXPECT_EQ(m.params[0].second, "abc123");
  // A parameter is one non-empty segment.
  EXPECT_FALSE(r.match("GET", "/containers/a/b/json").handler);
  EXPECT_FALSE(r.match("GET", "/containers//json").handler);
  EXPECT_FALSE(r.match("GET", "/containers/json").handler);
}

TEST(RouterMatchTest, TwoParams) {
  Router r;
  r.add("POST", "/things/{a}/sub/{b}", noop_handler());
  auto m = r.match("POST", "/things/x/sub/y");
  ASSERT_TRUE(m.handler);
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0], (std::pair<std::string_view, std::string>("a", "x")));
  EXPECT_EQ(m.params[1], (std::pair<std::string_view, std::string>("b", "y")));
}

TEST(RouterMatchTest, GreedyNameTakesSlashes) {
  Router r;
  add_unimplemented_routes(r);
  auto m = r.match("GET", "/images/docker.io/library/busybox:latest/json");
  ASSERT_TRUE(m.handler);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "name");
  EXPECT_EQ(m.params[0].second, "docker.io/library/busybox:latest");

  auto del = r.match("DELETE", "/images/localhost:5000/a/b/c@sha256:0123");
  ASSERT_TRUE(del.handler);
  ASSERT_EQ(del.params.size(), 1u);
  EXPECT_EQ(del.params[0].second, "localhost:5000/a/b/c@sha256:0123");

  auto one = r.match("GET", "/images/busybox/json");
  ASSERT_TRUE(one.handler);
  EXPECT_EQ(one.params[0].second, "busybox");

  auto tag = r.match("POST", "/images/ghcr.io/owner/app:v1/tag");
  ASSERT_TRUE(tag.handler);
  EXPECT_EQ(tag.params[0].second, "ghcr.io/owner/app:v1");

  // An image whose last path component is "json" is still a name.
  auto tricky = r.match("GET", "/images/example/json/json");
  ASSERT_TRUE(tricky.handler);
  EXPECT_EQ(tricky.params[0].second, "example/json");
}

TEST(RouterMatchTest, GreedyFollowedByParam) {
  Router r;
  r.add("GET", "/multi/{name*}/tag/{id}", noop_handler());
  auto m = r.match("GET", "/multi/a/b/c/tag/t1");
  ASSERT_TRUE(m.handler);
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].second, "a/b/c");
  EXPECT_EQ(m.params[1].second, "t1");
  EXPECT_FALSE(r.match("GET", "/multi/tag/t1").handler);
}

TEST(RouterMatchTest, ExactRoutesWinOverPatterns) {
  Router r;
  add_unimplemented_routes(r);
  // GET /images/json lists images; it is not /images/{name*}/json with an
  // empty name.
  auto list = r.match("GET", "/images/json");
  ASSERT_TRUE(list.handler);
  EXPECT_TRUE(list.params.empty());
  auto create = r.match("POST", "/containers/create");
  ASSERT_TRUE(create.handler);
  EXPECT_TRUE(create.params.empty());
}

TEST(RouterMatchTest, WrongMethodIsKnownPath) {
  Router r;
  add_unimplemented_routes(r);
  r.add("GET", "/_ping", noop_handler());
  auto exact = r.match("DELETE", "/_ping");
  EXPECT_FALSE(exact.handler);
  EXPECT_TRUE(exact.path_known);
  auto pattern = r.match("PUT", "/containers/abc/start");
  EXPECT_FALSE(pattern.handler);
  EXPECT_TRUE(pattern.path_known);
  auto unknown = r.match("GET", "/containers/abc/nope");
  EXPECT_FALSE(unknown.handler);
  EXPECT_FALSE(unknown.path_known);
}

TEST(RouterMatchTest, HeadFallsBackToGet) {
  Router r;
  r.add("GET", "/version", noop_handler());
  r.add("GET", "/containers/{id}/json", noop_handler());
  EXPECT_TRUE(r.match("HEAD", "/version").handler);
  auto m = r.match("HEAD", "/containers/c1/json");
  ASSERT_TRUE(m.handler);
  EXPECT_EQ(m.params[0].second, "c1");
  // Not the other way round.
  Router h;
  h.add("HEAD", "/only-head", noop_handler());
  EXPECT_FALSE(h.match("GET", "/only-head").handler);
}

TEST(RouterMatchTest, CompareVersions) {
  EXPECT_LT(compare_versions("1.9", "1.24"), 0);
  EXPECT_GT(compare_versions("1.24", "1.9"), 0);
  EXPECT_EQ(compare_versions("1.44", "1.44"), 0);
  EXPECT_EQ(compare_versions("1.44.0", "1.44"), 0);
  EXPECT_GT(compare_versions("1.45", "1.44"), 0);
  EXPECT_GT(compare_versions("2.0", "1.44"), 0);
  EXPECT_LT(compare_versions("1", "1.24"), 0);
}

// --- end to end through io::http::Server -------------------------------------

io::Task<void> echo_params(Request& req, Response& res) {
  std::string out = str_cat("version=", req.api_version());
  for (const char* k : {"id", "name", "a", "b"})
    if (auto v = req.param(k)) out.append(str_cat(";", k, "=", *v));
  res.send(200, "text/plain", out);
  co_return;
}

class RouterServer {
 public:
  RouterServer() : dir_("berth-router"), socket_(dir_ / "api.sock") {
    ctx_.root_dir = dir_.path();
    ctx_.server_version = "0.0.0-test";
    ctx_.host = sys::gather_host_info();
    router_ = build_router(ctx_);
    auto h = [](Request& q, Response& s) { return echo_params(q, s); };
    router_.add("GET", "/test/echo", h);
    router_.add("GET", "/test/{id}/params", h);
    router_.add("GET", "/test/{name*}/greedy", h);
    io::http::ServerOptions o;
    o.common_headers = common_headers(ctx_);
    o.idle_timeout = 5s;
    o.head_timeout = 5s;
    const Router* rp = &router_;
    server_ = std::make_unique<io::http::Server>(
        o, [rp](Request& q, Response& s) { return rp->dispatch(q, s); }, 1);
  }
  ~RouterServer() { stop(); }

  ::testing::AssertionResult start() {
    auto ep = io::parse_endpoint("unix://" + socket_);
    if (!ep) return ::testing::AssertionFailure() << ep.error().message;
    auto fd = io::listen_endpoint(*ep);
    if (!fd) return ::testing::AssertionFailure() << fd.error().message;
    listen_ = std::move(*fd);
    int lfd = listen_.get();
    io::http::Server* srv = server_.get();
    auto started = group_.start(1, [srv, lfd](io::Reactor&) {
      srv->attach_reactor();
      srv->add_listener(lfd);
    });
    if (!started) return ::testing::AssertionFailure() << started.error().message;
    running_ = true;
    // init runs just before the loop: once a posted call ran, the accept is
    // armed and shutdown() knows the reactor.
    std::atomic<bool> ready{false};
    group_.at(0).post([&ready] { ready = true; });
    auto deadline = Clock::now() + 5s;
    while (!ready && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    if (!ready) return ::testing::AssertionFailure() << "reactor did not start";
    return ::testing::AssertionSuccess();
  }

  void stop() {
    if (!running_) return;
    running_ = false;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    server_->shutdown(1s, [&] {
      std::lock_guard lock(mu);
      done = true;
      cv.notify_all();
    });
    {
      std::unique_lock lock(mu);
      EXPECT_TRUE(cv.wait_for(lock, 5s, [&] { return done; })) << "server did not drain";
    }
    group_.stop_all();
    group_.join();
    listen_.reset();
  }

  const std::string& socket() const { return socket_; }

 private:
  berth::testing::TempDir dir_;
  std::string socket_;
  ApiContext ctx_;
  Router router_;
  unique_fd listen_;
  std::unique_ptr<io::http::Server> server_;
  io::ReactorGroup group_;
  bool running_ = false;
};

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
  std::string header(std::string_view name) const {
    for (auto line : split(head, '\n')) {
      auto kv = split_once(trim(line), ':');
      if (kv && iequals(kv->first, name)) return std::string(trim(kv->second));
    }
    return {};
  }
  // The "message" of a JSON error body.
  std::string message() const {
    simdjson::dom::parser p;
    simdjson::padded_string text(body);
    std::string_view m;
    if (p.parse(text)["message"].get(m) != simdjson::SUCCESS) return "<not a JSON error: " + body;
    return std::string(m);
  }
};

// One keep-alive connection; HEAD-aware response reading.
class Conn {
 public:
  explicit Conn(const std::string& socket) : fd_(berth::testing::connect_unix(socket)) {}
  bool ok() const { return static_cast<bool>(fd_); }

  Reply call(std::string_view method, std::string_view target) {
    Reply r;
    if (!berth::testing::send_all(fd_.get(),
                                  str_cat(method, " ", target, " HTTP/1.1\r\nHost: api\r\n\r\n")))
      return r;
    auto deadline = Clock::now() + 5s;
    size_t he;
    while ((he = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return r;
    r.head = buf_.substr(0, he + 2);
    buf_.erase(0, he + 4);
    if (r.head.starts_with("HTTP/1.1 "))
      r.status = parse_number<int>(r.head.substr(9, 3)).value_or(0);
    size_t len = parse_number<size_t>(r.header("Content-Length")).value_or(0);
    if (method == "HEAD") return r;
    while (buf_.size() < len)
      if (!fill(deadline)) return r;
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

 private:
  bool fill(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  unique_fd fd_;
  std::string buf_;
};

class RouterDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start()); }
  Reply call(std::string_view method, std::string_view target) {
    Conn c(server_.socket());
    EXPECT_TRUE(c.ok());
    return c.call(method, target);
  }
  RouterServer server_;
};

TEST_F(RouterDispatchTest, SupportedVersionPrefixesAreAccepted) {
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  for (int minor = 24; minor <= 44; ++minor) {
    Reply r = c.call("GET", str_cat("/v1.", minor, "/_ping"));
    EXPECT_EQ(r.status, 200) << "/v1." << minor;
    EXPECT_EQ(r.body, "OK");
  }
  Reply plain = c.call("GET", "/_ping");
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, "OK");
  EXPECT_EQ(plain.header("Api-Version"), "1.44");
}

TEST_F(RouterDispatchTest, VersionIsPassedToTheHandler) {
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.call("GET", "/v1.30/test/echo").body, "version=1.30");
  EXPECT_EQ(c.call("GET", "/v1.44/test/echo").body, "version=1.44");
  EXPECT_EQ(c.call("GET", "/test/echo").body, "version=1.44");
  EXPECT_EQ(c.call("GET", "/test/echo?x=1").body, "version=1.44");
}

TEST_F(RouterDispatchTest, ParamsArePassedToTheHandler) {
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.call("GET", "/v1.41/test/c0ffee/params").body, "version=1.41;id=c0ffee");
  EXPECT_EQ(c.call("GET", "/test/docker.io/library/busybox:latest/greedy").body,
            "version=1.44;name=docker.io/library/busybox:latest");
  // Percent-encoded slashes decode before matching, as docker's router sees them.
  EXPECT_EQ(c.call("GET", "/test/a%2Fb/greedy").body, "version=1.44;name=a/b");
}

TEST_F(RouterDispatchTest, TooNewVersionIs400) {
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  for (const char* v : {"1.45", "1.99", "2.0", "1.100"}) {
    Reply r = c.call("GET", str_cat("/v", v, "/_ping"));
    EXPECT_EQ(r.status, 400) << v;
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_EQ(r.message(),
              str_cat("client version ", v, " is too new. Maximum supported API version is 1.44"));
  }
}

TEST_F(RouterDispatchTest, TooOldVersionIs400) {
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  for (const char* v : {"1.23", "1.9", "1.0", "1"}) {
    Reply r = c.call("GET", str_cat("/v", v, "/version"));
    EXPECT_EQ(r.status, 400) << v;
    EXPECT_EQ(r.message(), str_cat("client version ", v,
                                   " is too old. Minimum supported API version is 1.24, please "
                                   "upgrade your client to a newer version"));
  }
}

TEST_F(RouterDispatchTest, UnknownPathIs404) {
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  for (const char* target : {"/nope", "/v1.44/nope", "/v1.44", "/vx/_ping", "/containers/abc/nope",
                             "/", "/_ping/extra"}) {
    Reply r = c.call("GET", target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.header("Content-Type"), "application/json") << target;
    EXPECT_EQ(r.body, "{\"message\":\"page not found\"}\n") << target;
  }
}

TEST_F(RouterDispatchTest, WrongMethodIs405) {
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  const std::pair<const char*, const char*> cases[] = {
      {"DELETE", "/_ping"},
      {"POST", "/version"},
      {"GET", "/containers/create"},
      {"PUT", "/v1.44/containers/abc/start"},
      {"PATCH", "/images/busybox/json"},
  };
  for (const auto& [method, target] : cases) {
    Reply r = c.call(method, target);
    EXPECT_EQ(r.status, 405) << method << " " << target;
    EXPECT_NE(r.message().find("not allowed"), std::string::npos) << r.body;
  }
}

TEST_F(RouterDispatchTest, HeadFallsBackToGet) {
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  Reply get = c.call("GET", "/version");
  ASSERT_EQ(get.status, 200);
  Reply head = c.call("HEAD", "/version");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), std::to_string(get.body.size()));
  EXPECT_EQ(head.header("Content-Type"), "application/json");
  Reply head_501 = c.call("HEAD", "/containers/abc/json");
  EXPECT_EQ(head_501.status, 501);
  Reply head_404 = c.call("HEAD", "/nope");
  EXPECT_EQ(head_404.status, 404);
  // No body went out with any of them: the connection is still in sync.
  Reply after = c.call("GET", "/_ping");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, "OK");
}

TEST_F(RouterDispatchTest, PingAnswersDockerHeaders) {
  Reply r = call("GET", "/_ping");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "OK");
  EXPECT_EQ(r.header("Api-Version"), "1.44");
  EXPECT_EQ(r.header("Ostype"), "linux");
  EXPECT_EQ(r.header("Docker-Experimental"), "false");
  EXPECT_EQ(r.header("Cache-Control"), "no-cache, no-store, must-revalidate");
  EXPECT_EQ(r.header("Pragma"), "no-cache");
  Reply head = call("HEAD", "/_ping");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), "0");
}

// The endpoints of the spec, read from the reference YAML: its "paths:" map
// has "  /path:" keys with "    method:" entries below.
std::vector<std::pair<std::string, std::string>> spec_endpoints(const std::string& file) {
  std::ifstream in(file);
  std::vector<std::pair<std::string, std::string>> out;
  std::string line, path;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_paths = line == "paths:";
      continue;
    }
    if (!in_paths) continue;
    if (line.starts_with("  /") && line.ends_with(":")) {
      path = line.substr(2, line.size() - 3);
    } else if (line.starts_with("    ") && line.size() > 5 && line[4] != ' ' &&
               line.ends_with(":") && !path.empty()) {
      std::string m = to_lower(trim(line.substr(4, line.size() - 5)));
      if (m == "get" || m == "post" || m == "put" || m == "delete" || m == "head" || m == "patch") {
        for (char& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        out.emplace_back(m, path);
      }
    }
  }
  return out;
}

std::string fill_params(std::string_view path) {
  std::string out;
  for (auto seg : split(path.substr(1), '/')) {
    out.push_back('/');
    if (seg == "{id}")
      out.append("abc123");
    else if (seg == "{name}")
      out.append("docker.io/library/busybox:latest");
    else if (seg.starts_with("{"))
      out.append("x");
    else
      out.append(seg);
  }
  return out;
}

TEST_F(RouterDispatchTest, EverySpecEndpointIsRouted) {
  std::string spec =
      berth::testing::source_dir() + "/../shared/reference/docker-engine-api-v1.44.yaml";
  auto endpoints = spec_endpoints(spec);
  if (endpoints.empty()) GTEST_SKIP() << "API spec not found at " << spec;
  EXPECT_GE(endpoints.size(), 100u);
  const std::vector<std::string> implemented = {"GET /_ping", "HEAD /_ping", "GET /version",
                                                "GET /info"};
  Conn c(server_.socket());
  ASSERT_TRUE(c.ok());
  int checked = 0;
  for (const auto& [method, path] : endpoints) {
    std::string target = "/v1.44" + fill_params(path);
    Reply r = c.call(method, target);
    std::string what = str_cat(method, " ", path);
    if (std::find(implemented.begin(), implemented.end(), what) != implemented.end()) {
      EXPECT_EQ(r.status, 200) << what;
      continue;
    }
    EXPECT_EQ(r.status, 501) << what << " (" << target << ")";
    if (method == "HEAD") continue;  // no body to name it
    std::string msg = r.message();
    // Route patterns spell greedy names {name*}; the spec {name}.
    for (size_t p; (p = msg.find("*}")) != std::string::npos;) msg.erase(p, 1);
    EXPECT_NE(msg.find(what), std::string::npos)
        << "501 message does not name " << what << ": " << r.message();
    ++checked;
  }
  EXPECT_GT(checked, 90);
}

}  // namespace
}  // namespace berth::api
