// io::http::Server run in-process on a ReactorGroup and driven through raw
// unix-socket clients: keep-alive, pipelining, chunked bodies both ways,
// 100-continue, upgrade/hijack, malformed and oversized input, deadlines,
// large bodies, many connections and graceful shutdown. Every test ends by
// checking that no connection is left open and that the process holds as
// many fds as before the server started.
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/base/strings.h"
#include "io/http/server.h"
#include "io/net.h"
#include "io/reactor.h"
#include "tests/testlib/testlib.h"

namespace berth::io::http {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Clock = std::chrono::steady_clock;
using berth::testing::TempDir;

// Polls pred every 5 ms until it holds or timeout passes.
bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

uint64_t fnv1a(uint64_t h, std::string_view data) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}
constexpr uint64_t kFnvBasis = 14695981039346656037ull;

std::string pseudo_random_bytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed | 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

// --- the handlers under test -------------------------------------------------

struct Shared {
  std::atomic<int> requests{0};      // handler entries
  std::atomic<int> blocked{0};       // handlers waiting in /block
  std::atomic<bool> release{false};  // lets /block answer
};

// Test coroutines bind every co_await result to a local before testing
// it: GCC 12 miscompiles a coroutine whose body opens with
// `if (co_await ...)` (the body never runs).
Task<void> echo_raw_stream(Transport* t, std::string leftover) {
  if (!leftover.empty()) {
    int rc = co_await t->write_all(leftover, 5s);
    if (rc < 0) co_return;
  }
  char buf[4096];
  for (;;) {
    int n = co_await t->read(buf, sizeof buf, 5s);
    if (n <= 0) co_return;
    int rc = co_await t->write_all(std::string_view(buf, static_cast<size_t>(n)), 5s);
    if (rc < 0) co_return;
  }
}

// One small coroutine per path.
Task<void> echo(Request& req, Response& res) {
  auto body = co_await req.read_all(64 << 20);
  if (!body) {
    res.send(400, "text/plain", body.error().message);
    co_return;
  }
  res.add_header("X-Method", req.method());
  res.send(200, "application/octet-stream", *body);
}

// Streams the body through in chunks: length and FNV-1a of all bytes.
Task<void> hash(Request& req, Response& res) {
  uint64_t h = kFnvBasis;
  size_t len = 0;
  for (;;) {
    auto chunk = co_await req.read_body();
    if (!chunk) {
      res.send(400, "text/plain", chunk.error().message);
      co_return;
    }
    if (chunk->empty()) break;
    h = fnv1a(h, *chunk);
    len += chunk->size();
  }
  res.send(200, "text/plain", str_cat(len, " ", h));
}

Task<void> stream(Request& req, Response& res) {
  int n = parse_number<int>(req.query("n").value_or("10")).value_or(10);
  auto begun = co_await res.begin_stream(200, "text/plain");
  if (!begun) co_return;
  for (int i = 0; i < n; ++i) {
    auto written = co_await res.write(str_cat("chunk-", i, "\n"));
    if (!written) co_return;
  }
  co_await res.end_stream();
}

Task<void> hijack(Request& req, Response& res) {
  auto h = co_await res.hijack("application/vnd.docker.raw-stream");
  if (!h) co_return;
  co_await echo_raw_stream(h->transport, std::move(h->leftover));
}

// Holds the request until the test releases it (bounded: 10 s).
Task<void> block(Request& req, Response& res, Shared* s) {
  s->blocked.fetch_add(1);
  for (int i = 0; i < 2000 && !s->release.load(); ++i) co_await io::sleep(5ms);
  res.send(200, "text/plain", "released");
}

Task<void> immediate(Request& req, Response& res) {
  std::string_view p = req.path();
  if (p == "/nobody") {
    res.send(200, "text/plain", "ignored");
  } else if (p == "/header") {
    auto v = req.header(req.query("name").value_or(""));
    res.send(200, "text/plain", v ? *v : std::string_view("<none>"));
  } else if (p == "/close") {
    res.close_after();
    res.send(200, "text/plain", "bye");
  } else if (p == "/reactor") {
    res.send(200, "text/plain", std::to_string(Reactor::current()->index()));
  } else if (p == "/noresponse") {
    // no answer at all
  } else {
    // Path and query as the server decoded them.
    std::string out = str_cat("path=", p);
    for (const auto& [k, v] : req.query_params()) out.append(str_cat(";", k, "=", v));
    res.send(200, "text/plain", out);
  }
  co_return;
}

Task<void> handle(Request& req, Response& res, Shared* s) {
  s->requests.fetch_add(1);
  std::string_view p = req.path();
  if (p == "/echo") return echo(req, res);
  if (p == "/hash") return hash(req, res);
  if (p == "/stream") return stream(req, res);
  if (p == "/hijack") return hijack(req, res);
  if (p == "/block") return block(req, res, s);
  return immediate(req, res);
}

// --- in-process server ---------------------------------------------------------

ServerOptions test_options() {
  ServerOptions o;
  o.max_head_bytes = 8192;
  o.idle_timeout = 1s;
  o.head_timeout = 300ms;
  o.body_timeout = 2s;
  o.write_timeout = 5s;
  o.common_headers = "X-Test-Server: berth\r\n";
  return o;
}

class TestServer {
 public:
  TestServer(ServerOptions opts, Shared* shared, int reactors)
      : dir_("berth-http"), socket_(dir_ / "s.sock"), reactors_(reactors) {
    server_ = std::make_unique<Server>(
        std::move(opts), [shared](Request& q, Response& s) { return handle(q, s, shared); },
        reactors);
  }
  ~TestServer() { stop(); }

  ::testing::AssertionResult start() {
    auto ep = parse_endpoint("unix://" + socket_);
    if (!ep) return ::testing::AssertionFailure() << ep.error().message;
    auto fd = listen_endpoint(*ep);
    if (!fd) return ::testing::AssertionFailure() << fd.error().message;
    listen_ = std::move(*fd);
    // Wired as berthd does: every reactor takes connections, reactor 0
    // accepts and hands them out in turn.
    Server* srv = server_.get();
    auto started = group_.start(reactors_, [srv](Reactor&) { srv->attach_reactor(); });
    if (!started) return ::testing::AssertionFailure() << started.error().message;
    running_ = true;
    // init runs just before each loop starts: a posted call that ran proves
    // every reactor is attached.
    std::atomic<int> ready{0};
    for (int i = 0; i < reactors_; ++i) group_.at(i).post([&ready] { ready.fetch_add(1); });
    if (!wait_for([&] { return ready.load() == reactors_; }, 5s))
      return ::testing::AssertionFailure() << "reactors did not start";
    int lfd = listen_.get();
    group_.at(0).post([srv, lfd, &ready] {
      srv->add_listener(lfd);
      ready.fetch_add(1);
    });
    if (!wait_for([&] { return ready.load() == reactors_ + 1; }, 5s))
      return ::testing::AssertionFailure() << "accept not armed";
    return ::testing::AssertionSuccess();
  }

  // Server::shutdown(grace); true once done() ran (waits at most wait).
  void begin_shutdown(Duration grace) {
    if (shutdown_called_) return;
    shutdown_called_ = true;
    server_->shutdown(grace, [this] {
      std::lock_guard lock(mu_);
      done_ = true;
      cv_.notify_all();
    });
  }
  bool wait_done(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, wait, [this] { return done_; });
  }
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }

  // Graceful stop, then the reactors. Returns whether done() fired.
  bool stop(std::chrono::milliseconds wait = 5s) {
    if (!running_) return true;
    begin_shutdown(1s);
    bool drained = wait_done(wait);
    group_.stop_all();
    group_.join();
    listen_.reset();
    running_ = false;
    return drained;
  }

  Server& server() { return *server_; }
  const std::string& socket() const { return socket_; }

 private:
  TempDir dir_;
  std::string socket_;
  int reactors_;
  unique_fd listen_;
  std::unique_ptr<Server> server_;
  ReactorGroup group_;
  bool running_ = false;
  bool shutdown_called_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

// --- raw HTTP client ------------------------------------------------------------

struct HttpResponse {
  int status = 0;
  std::string head;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string trailers;
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return v;
    return std::nullopt;
  }
};

class Client {
 public:
  explicit Client(const std::string& socket) : fd_(berth::testing::connect_unix(socket)) {}
  bool ok() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }
  bool send(std::string_view data) { return berth::testing::send_all(fd_.get(), data); }
  void shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }
  void close() { fd_.reset(); }

  enum class Body { normal, none, head_only };
  // Reads the next response (1xx included). Body::none: a HEAD answer;
  // Body::head_only: stop after the head (101, hijacked 200).
  std::optional<HttpResponse> read(Body mode = Body::normal,
                                   std::chrono::milliseconds timeout = 2s) {
    auto deadline = Clock::now() + timeout;
    size_t he;
    while ((he = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return std::nullopt;
    HttpResponse r;
    r.head = buf_.substr(0, he + 4);
    buf_.erase(0, he + 4);
    auto lines = split(std::string_view(r.head).substr(0, he), '\n');
    if (lines.empty() || !lines[0].starts_with("HTTP/1.1 ")) return std::nullopt;
    r.status = parse_number<int>(lines[0].substr(9, 3)).value_or(0);
    for (size_t i = 1; i < lines.size(); ++i) {
      auto kv = split_once(trim(lines[i]), ':');
      if (kv) r.headers.emplace_back(std::string(kv->first), std::string(trim(kv->second)));
    }
    if (mode != Body::normal || (r.status >= 100 && r.status < 200) || r.status == 204 ||
        r.status == 304)
      return r;
    if (auto te = r.header("Transfer-Encoding"); te && iequals(*te, "chunked")) {
      for (;;) {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos)
          if (!fill(deadline)) return std::nullopt;
        std::string_view size_text = std::string_view(buf_).substr(0, eol);
        if (auto semi = size_text.find(';'); semi != std::string_view::npos)
          size_text = size_text.substr(0, semi);
        size_t n = std::strtoul(std::string(size_text).c_str(), nullptr, 16);
        if (n == 0) {
          buf_.erase(0, eol + 2);
          size_t end;
          while (!buf_.starts_with("\r\n") && (end = buf_.find("\r\n\r\n")) == std::string::npos)
            if (!fill(deadline)) return std::nullopt;
          if (buf_.starts_with("\r\n")) {
            buf_.erase(0, 2);
          } else {
            end = buf_.find("\r\n\r\n");
            r.trailers = buf_.substr(0, end);
            buf_.erase(0, end + 4);
          }
          return r;
        }
        while (buf_.size() < eol + 2 + n + 2)
          if (!fill(deadline)) return std::nullopt;
        r.body.append(buf_, eol + 2, n);
        buf_.erase(0, eol + 2 + n + 2);
      }
    }
    if (auto cl = r.header("Content-Length")) {
      size_t n = parse_number<size_t>(*cl).value_or(0);
      while (buf_.size() < n)
        if (!fill(deadline)) return std::nullopt;
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
      return r;
    }
    while (fill(deadline)) {
    }
    r.body = std::move(buf_);
    buf_.clear();
    return r;
  }

  // Reads exactly n raw bytes (after a hijack).
  std::optional<std::string> read_raw(size_t n, std::chrono::milliseconds timeout = 2s) {
    auto deadline = Clock::now() + timeout;
    while (buf_.size() < n)
      if (!fill(deadline)) return std::nullopt;
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

  // Waits for the peer to close. closed is false if it did not within
  // timeout; data holds whatever arrived before (plus unread buffer).
  struct Closed {
    bool closed = false;
    std::string data;
  };
  Closed wait_close(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (fill(deadline)) {
    }
    Closed c{eof_, std::move(buf_)};
    buf_.clear();
    return c;
  }

  // True if bytes are waiting (without consuming them).
  bool readable_now() {
    if (!buf_.empty()) return true;
    pollfd p{fd_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

 private:
  // One recv into buf_; false at EOF, reset or deadline.
  bool fill(Clock::time_point deadline) {
    if (eof_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n <= 0) {
      // A reset (the server closed with our bytes unread) is a close too.
      if (n == 0 || errno == ECONNRESET || errno == EPIPE) eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  unique_fd fd_;
  std::string buf_;
  bool eof_ = false;
};

std::string get(std::string_view target) {
  return str_cat("GET ", target, " HTTP/1.1\r\nHost: test\r\n\r\n");
}
std::string post(std::string_view target, std::string_view body) {
  return str_cat("POST ", target, " HTTP/1.1\r\nHost: test\r\nContent-Length: ", body.size(),
                 "\r\n\r\n", body);
}

// --- fixture -------------------------------------------------------------------

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { baseline_fds_ = berth::testing::count_fds(); }

  void start(ServerOptions opts = test_options(), int reactors = 2) {
    server_ = std::make_unique<TestServer>(std::move(opts), &shared_, reactors);
    ASSERT_TRUE(server_->start());
  }

  void TearDown() override {
    if (!server_) return;
    // After a failure a handler may be stuck: wait less, and skip the fd
    // accounting, which would only repeat the failure.
    bool failed = HasFailure();
    auto bound = failed ? std::chrono::milliseconds(500) : std::chrono::milliseconds(5000);
    // Every client is gone by now: the server must have closed its side.
    EXPECT_TRUE(wait_for([&] { return server_->server().open_connections() == 0; }, bound))
        << server_->server().open_connections() << " connections still open";
    EXPECT_TRUE(server_->stop(bound)) << "shutdown did not report done";
    server_.reset();
    if (failed) return;
    EXPECT_TRUE(wait_for([&] { return berth::testing::count_fds() == baseline_fds_; }, 5s))
        << "fd leak: " << berth::testing::count_fds() << " open, " << baseline_fds_ << " before";
  }

  const std::string& sock() const { return server_->socket(); }
  Server& server() { return server_->server(); }

  Shared shared_;
  std::unique_ptr<TestServer> server_;
  int baseline_fds_ = 0;
};

// --- keep-alive and pipelining ----------------------------------------------------

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 5; ++i) {
    std::string body = str_cat("request-", i);
    ASSERT_TRUE(c.send(post("/echo", body)));
    auto r = c.read();
    ASSERT_TRUE(r) << "no response to request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, body);
    EXPECT_EQ(r->header("X-Method"), "POST");
    EXPECT_EQ(r->header("X-Test-Server"), "berth");
    EXPECT_FALSE(r->header("Connection")) << r->head;
  }
  EXPECT_EQ(server().open_connections(), 1u);
  EXPECT_EQ(shared_.requests.load(), 5);
}

TEST_F(HttpServerTest, PipelinedRequestsAnswerInOrder) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  std::string three = post("/echo", "one") + get("/q?n=two") +
                      "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nthree\r\n0\r\n\r\n";
  ASSERT_TRUE(c.send(three));
  auto r1 = c.read(), r2 = c.read(), r3 = c.read();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->body, "one");
  EXPECT_EQ(r2->body, "path=/q;n=two");
  EXPECT_EQ(r3->body, "three");
  // The connection is still in sync afterwards.
  ASSERT_TRUE(c.send(get("/after")));
  auto r4 = c.read();
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->body, "path=/after");
}

TEST_F(HttpServerTest, PipelinedHeadRequestHasNoBody) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("HEAD /x HTTP/1.1\r\nHost: test\r\n\r\n" + get("/y")));
  auto r1 = c.read(Client::Body::none);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->header("Content-Length"), std::to_string(std::string("path=/x").size()));
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "path=/y");
}

// A complete request must be answered even when the first bytes of the
// next one arrived with it (a client may pipeline; the rest of the next
// head can take a while).
TEST_F(HttpServerTest, ResponseIsNotHeldBackByAPartialNextRequest) {
  ServerOptions o = test_options();
  o.head_timeout = 3s;
  start(o);
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get("/first") + "GET /second HTTP/1.1\r\n"));
  auto r1 = c.read(Client::Body::normal, 2s);
  ASSERT_TRUE(r1) << "the response to a complete request was withheld";
  EXPECT_EQ(r1->body, "path=/first");
  ASSERT_TRUE(c.send("Host: test\r\n\r\n"));
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(r2->body, "path=/second");
}

// RFC 9112 2.2: a server SHOULD ignore at least one empty line before a
// request line (old clients send CRLF after a POST body).
TEST_F(HttpServerTest, StrayCrlfAfterBodyIsIgnored) {
  ServerOptions o = test_options();
  o.head_timeout = 2s;
  start(o);
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(post("/echo", "abc") + "\r\n"));
  auto r1 = c.read(Client::Body::normal, 1500ms);
  ASSERT_TRUE(r1) << "response withheld after a stray CRLF";
  EXPECT_EQ(r1->body, "abc");
  ASSERT_TRUE(c.send(get("/next")));
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200) << r2->head << r2->body;
  EXPECT_EQ(r2->body, "path=/next");
}

// --- request bodies ---------------------------------------------------------------

TEST_F(HttpServerTest, ChunkedRequestWithExtensionsAndTrailers) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;name=value\r\nhello\r\n"
             "1\r\n \r\n"
             "A;x;y=\"q\"\r\n0123456789\r\n"
             "0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello 0123456789");
  // Trailers were consumed: the next request parses cleanly.
  ASSERT_TRUE(c.send(get("/after-trailers")));
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "path=/after-trailers");
}

TEST_F(HttpServerTest, ChunkedRequestSentPieceByPiece) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string expected;
  for (int i = 0; i < 20; ++i) {
    std::string piece = str_cat("piece", i, ";");
    expected += piece;
    char size[16];
    std::snprintf(size, sizeof size, "%zx", piece.size());
    ASSERT_TRUE(c.send(str_cat(size, "\r\n")));
    ASSERT_TRUE(c.send(piece));
    ASSERT_TRUE(c.send("\r\n"));
  }
  ASSERT_TRUE(c.send("0\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, expected);
}

TEST_F(HttpServerTest, UnreadBodyIsSkippedAndConnectionStaysUsable) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(post("/nobody", std::string(10000, 'z')) + get("/next")));
  auto r1 = c.read();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->body, "ignored");
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "path=/next");
}

TEST_F(HttpServerTest, LargeBodyStreamsThroughIntact) {
  start();
  const size_t size = 20u << 20;
  std::string body = pseudo_random_bytes(size, 42);
  uint64_t h = fnv1a(kFnvBasis, body);
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.send(str_cat("POST /hash HTTP/1.1\r\nHost: test\r\nContent-Length: ", size, "\r\n\r\n")));
  // Several sends, so the server sees the body arrive over time.
  for (size_t off = 0; off < size; off += 1 << 20)
    ASSERT_TRUE(c.send(std::string_view(body).substr(off, 1 << 20)));
  auto r = c.read(Client::Body::normal, 20s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, str_cat(size, " ", h));
}

TEST_F(HttpServerTest, LargeChunkedBodyStreamsThroughIntact) {
  start();
  std::string body = pseudo_random_bytes(8u << 20, 7);
  uint64_t h = fnv1a(kFnvBasis, body);
  Client c(sock());
  ASSERT_TRUE(c.ok());
  std::string wire = "POST /hash HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
  size_t off = 0, k = 0;
  while (off < body.size()) {
    size_t n = std::min(body.size() - off, 1 + (k++ * 7919) % 70000);
    char size[32];
    std::snprintf(size, sizeof size, k % 3 == 0 ? "%zx;k=%zu\r\n" : "%zx\r\n", n, k);
    wire += size;
    wire.append(body, off, n);
    wire += "\r\n";
    off += n;
  }
  wire += "0\r\n\r\n";
  ASSERT_TRUE(c.send(wire));
  auto r = c.read(Client::Body::normal, 20s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, str_cat(body.size(), " ", h));
}

TEST_F(HttpServerTest, LargeResponseArrivesIntact) {
  start();
  std::string body = pseudo_random_bytes(4u << 20, 99);
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(post("/echo", body)));
  auto r = c.read(Client::Body::normal, 20s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), body.size());
  EXPECT_TRUE(r->body == body);
}

// --- Expect: 100-continue ------------------------------------------------------------

TEST_F(HttpServerTest, ContinueIsSentWhenTheHandlerReadsTheBody) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(
      "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  // The client holds the body back until it sees 100 Continue.
  auto interim = c.read();
  ASSERT_TRUE(interim) << "no 100 Continue before the body was sent";
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("hello"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  // Keep-alive continues after the exchange.
  ASSERT_TRUE(c.send(get("/after")));
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "path=/after");
}

TEST_F(HttpServerTest, ContinueWithChunkedBody) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
             "Transfer-Encoding: chunked\r\n\r\n"));
  auto interim = c.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("3\r\nabc\r\n0\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "abc");
}

TEST_F(HttpServerTest, NoContinueWhenTheHandlerIgnoresTheBody) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(
      "POST /nobody HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << "expected the final response, not 100 Continue";
  EXPECT_EQ(r->body, "ignored");
  // The body never came, so the connection cannot continue; the server
  // should say so (RFC 9110 10.1.1) and close.
  EXPECT_EQ(r->header("Connection"), "close") << r->head;
  auto closed = c.wait_close();
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.data, "");
}

TEST_F(HttpServerTest, NoContinueWhenTheBodyCameWithTheHead) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(
      "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
      "early"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "early");
}

// --- responses --------------------------------------------------------------------

TEST_F(HttpServerTest, StreamingResponseIsChunked) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get("/stream?n=50")));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(r->header("Content-Length"));
  std::string expected;
  for (int i = 0; i < 50; ++i) expected += str_cat("chunk-", i, "\n");
  EXPECT_EQ(r->body, expected);
  ASSERT_TRUE(c.send(get("/after-stream")));
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "path=/after-stream");
}

TEST_F(HttpServerTest, HandlerWithoutResponseGets500) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get("/noresponse") + get("/next")));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("\"message\""), std::string::npos) << r->body;
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
}

TEST_F(HttpServerTest, CloseAfterEndsTheConnection) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get("/close")));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "bye");
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(c.wait_close().closed);
}

TEST_F(HttpServerTest, Http10RequestClosesAfterTheResponse) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("GET /old HTTP/1.0\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "path=/old");
  EXPECT_TRUE(c.wait_close().closed);
}

TEST_F(HttpServerTest, TargetIsDecoded) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get("/a%20b/c?x=1&y=two+words&z=%2F") +
                     "GET http://example.com/abs?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "path=/a b/c;x=1;y=two words;z=/");
  auto r2 = c.read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "path=/abs;q=1");
}

// --- upgrade / hijack --------------------------------------------------------------

TEST_F(HttpServerTest, UpgradeHijacksTheConnectionBothWays) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  // Raw bytes right behind the head must reach the handler, not be lost.
  ASSERT_TRUE(
      c.send("POST /hijack HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
             "EARLY"));
  auto r = c.read(Client::Body::head_only);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 101);
  EXPECT_EQ(r->header("Upgrade"), "tcp");
  EXPECT_EQ(r->header("Connection"), "Upgrade");
  EXPECT_EQ(r->header("Content-Type"), "application/vnd.docker.raw-stream");
  EXPECT_EQ(c.read_raw(5), "EARLY");
  for (int i = 0; i < 10; ++i) {
    std::string msg = str_cat("ping-", i, "\0\r\n\xff"s);
    ASSERT_TRUE(c.send(msg));
    EXPECT_EQ(c.read_raw(msg.size()), msg);
  }
  // Half-close: the handler sees EOF and returns; the server closes.
  c.shutdown_write();
  auto closed = c.wait_close();
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.data, "");
}

TEST_F(HttpServerTest, HijackWithoutUpgradeAnswers200AndStreams) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("POST /hijack HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n"));
  auto r = c.read(Client::Body::head_only);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->header("Content-Length"));
  EXPECT_FALSE(r->header("Transfer-Encoding"));
  ASSERT_TRUE(c.send("raw bytes"));
  EXPECT_EQ(c.read_raw(9), "raw bytes");
  c.close();
}

// --- malformed and oversized input ----------------------------------------------------

struct BadRequest {
  const char* name;
  std::string wire;
};
void PrintTo(const BadRequest& b, std::ostream* os) {
  *os << b.name;
}

class MalformedTest : public HttpServerTest, public ::testing::WithParamInterface<BadRequest> {};

TEST_P(MalformedTest, Answers400AndCloses) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(GetParam().wire));
  auto r = c.read();
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, 400) << r->head << r->body;
  auto closed = c.wait_close();
  EXPECT_TRUE(closed.closed) << "connection left open";
  EXPECT_EQ(closed.data, "");
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, MalformedTest,
    ::testing::Values(
        BadRequest{"BadMethod", "FOO / HTTP/1.1\r\nHost: test\r\n\r\n"},
        BadRequest{"BadVersionMinor", "GET / HTTP/1.x\r\nHost: test\r\n\r\n"},
        BadRequest{"BadProtocol", "GET / HTTX/1.1\r\nHost: test\r\n\r\n"},
        BadRequest{"HeaderWithoutColon", "GET / HTTP/1.1\r\nHost: test\r\nNoColon\r\n\r\n"},
        // RFC 9112 5.1: whitespace between name and colon MUST be rejected.
        BadRequest{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : test\r\n\r\n"},
        BadRequest{"InvalidChunkSize",
                   "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "zz\r\nhello\r\n0\r\n\r\n"},
        BadRequest{"NulInTarget", "GET /a\0b HTTP/1.1\r\nHost: test\r\n\r\n"s},
        BadRequest{"NulInHeaderValue", "GET / HTTP/1.1\r\nHost: test\r\nX-A: a\0b\r\n\r\n"s},
        BadRequest{"BareLfInHeaders", "GET / HTTP/1.1\r\nHost: test\nX-A: b\r\n\r\n"},
        BadRequest{"BareLfAfterRequestLine", "GET / HTTP/1.1\nHost: test\r\n\r\n"},
        BadRequest{"BareLfOnly", "GET / HTTP/1.1\n\n"},
        BadRequest{"ContentLengthAndChunked",
                   "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        BadRequest{"ConflictingContentLengths",
                   "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n"
                   "Content-Length: 4\r\n\r\nabcd"},
        BadRequest{"NonNumericContentLength",
                   "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: abc\r\n\r\n"},
        BadRequest{"MalformedPercentEscape", "GET /%zz HTTP/1.1\r\nHost: test\r\n\r\n"}),
    [](const ::testing::TestParamInfo<BadRequest>& i) { return std::string(i.param.name); });

// RFC 9112 5.2: obs-fold MUST be rejected or replaced by spaces.
TEST_F(HttpServerTest, ObsFoldIsRejectedOrUnfolded) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("GET /header?name=X-Fold HTTP/1.1\r\nHost: test\r\nX-Fold: a\r\n b\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  if (r->status == 400) return;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.find_first_of("\r\n"), std::string::npos)
      << "a header value carries CR/LF: \"" << r->body << "\"";
}

TEST_F(HttpServerTest, OversizedHeadAnswers431AndCloses) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.send("GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.wait_close().closed);
}

TEST_F(HttpServerTest, ManyHeadersOverTheLimitAnswer431) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  std::string wire = "GET / HTTP/1.1\r\nHost: test\r\n";
  for (int i = 0; i < 1000; ++i) wire += str_cat("X-H", i, ": v\r\n");
  ASSERT_TRUE(c.send(wire + "\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.wait_close().closed);
}

TEST_F(HttpServerTest, HeadJustUnderTheLimitIsServed) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  std::string head = "GET /fits HTTP/1.1\r\nHost: test\r\nX-Pad: ";
  head += std::string(8192 - head.size() - 4 - 100, 'p');
  head += "\r\n\r\n";
  ASSERT_LT(head.size(), 8192u);
  ASSERT_TRUE(c.send(head));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "path=/fits");
}

// --- truncated input and deadlines ------------------------------------------------------

TEST_F(HttpServerTest, TruncatedInputThenCloseIsCleanedUp) {
  start();
  const char* truncated[] = {
      "GET / HTTP/1.1\r\nHost:",
      "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nabc",
      "POST /hash HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
      "POST /nobody HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nabc",
  };
  for (const char* wire : truncated) {
    Client c(sock());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send(wire));
    c.close();
  }
  EXPECT_TRUE(wait_for([&] { return server().open_connections() == 0; }, 5s));
  // Still serving.
  Client c(sock());
  ASSERT_TRUE(c.send(get("/alive")));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "path=/alive");
}

TEST_F(HttpServerTest, TruncatedHeadThenHalfCloseAnswers400) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: te"));
  c.shutdown_write();
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(c.wait_close().closed);
}

TEST_F(HttpServerTest, CleanCloseBetweenRequestsSendsNothing) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get("/one")));
  ASSERT_TRUE(c.read());
  c.shutdown_write();
  auto closed = c.wait_close();
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.data, "");
}

TEST_F(HttpServerTest, SlowlorisGets408AndIsClosed) {
  start();  // head_timeout 300 ms
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n"));
  // Each byte arrives well within the deadline, but the head never ends.
  auto stop = Clock::now() + 10s;
  int sent = 0;
  while (Clock::now() < stop && !c.readable_now()) {
    if (!c.send(str_cat("X-Slow-", sent++, ": 1\r\n"))) break;
    pollfd p{c.fd(), POLLIN, 0};
    ::poll(&p, 1, 50);
  }
  auto r = c.read();
  ASSERT_TRUE(r) << "no answer after trickling " << sent << " headers";
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(c.wait_close().closed);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosedSilently) {
  start();  // idle_timeout 1 s
  Client used(sock());
  Client never(sock());
  ASSERT_TRUE(used.ok() && never.ok());
  ASSERT_TRUE(used.send(get("/once")));
  ASSERT_TRUE(used.read());
  auto a = used.wait_close(10s);
  auto b = never.wait_close(10s);
  EXPECT_TRUE(a.closed);
  EXPECT_EQ(a.data, "");
  EXPECT_TRUE(b.closed);
  EXPECT_EQ(b.data, "");
}

TEST_F(HttpServerTest, StalledBodyTimesOut) {
  ServerOptions o = test_options();
  o.body_timeout = 300ms;
  start(o);
  Client c(sock());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc"));
  auto r = c.read(Client::Body::normal, 10s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);  // the handler's answer to the read error
  EXPECT_TRUE(c.wait_close().closed);
}

// --- load ------------------------------------------------------------------------

TEST_F(HttpServerTest, ManyConcurrentConnections) {
  start();
  constexpr int kThreads = 20, kPerThread = 10, kRounds = 5;
  std::latch connected(kThreads), checked(1);
  std::atomic<int> failures{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::unique_ptr<Client>> conns;
      for (int i = 0; i < kPerThread; ++i) conns.push_back(std::make_unique<Client>(sock()));
      bool broken = false;  // after one failure this thread only keeps the latches
      for (int round = 0; round < kRounds; ++round) {
        for (int i = 0; i < kPerThread && !broken; ++i) {
          std::string body = str_cat("t", t, "-c", i, "-r", round);
          auto& c = *conns[static_cast<size_t>(i)];
          std::optional<HttpResponse> r;
          if (c.ok() && c.send(post("/echo", body))) r = c.read();
          if (r && r->status == 200 && r->body == body) {
            ok.fetch_add(1);
          } else {
            failures.fetch_add(1);
            broken = true;
          }
        }
        if (round == 0) {
          // Every connection has been answered once: all are open now.
          connected.count_down();
          checked.wait();
        }
      }
    });
  }
  connected.wait();
  EXPECT_EQ(server().open_connections(), static_cast<size_t>(kThreads * kPerThread));
  checked.count_down();
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ok.load(), kThreads * kPerThread * kRounds);
}

TEST_F(HttpServerTest, ConnectionsAreSpreadOverTheReactors) {
  start(test_options(), 2);
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    Client c(sock());
    ASSERT_TRUE(c.ok());
    // A connection stays on its reactor for life.
    std::string first;
    for (int k = 0; k < 3; ++k) {
      ASSERT_TRUE(c.send(get("/reactor")));
      auto r = c.read();
      ASSERT_TRUE(r);
      if (k == 0) first = r->body;
      EXPECT_EQ(r->body, first);
    }
    seen.insert(first);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"0", "1"}));
}

// --- graceful shutdown ---------------------------------------------------------------

TEST_F(HttpServerTest, ShutdownClosesIdleAndFinishesInFlight) {
  start();
  Client idle(sock()), busy(sock());
  ASSERT_TRUE(idle.ok() && busy.ok());
  ASSERT_TRUE(idle.send(get("/warm")));
  ASSERT_TRUE(idle.read());
  ASSERT_TRUE(busy.send(get("/block")));
  ASSERT_TRUE(wait_for([&] { return shared_.blocked.load() == 1; }, 5s));

  server_->begin_shutdown(10s);
  auto idle_closed = idle.wait_close(5s);
  EXPECT_TRUE(idle_closed.closed) << "idle keep-alive connection not closed on shutdown";
  EXPECT_EQ(idle_closed.data, "");
  // The request in flight is still held by its handler.
  EXPECT_FALSE(server_->done());
  EXPECT_FALSE(busy.readable_now());

  shared_.release = true;
  auto r = busy.read();
  ASSERT_TRUE(r) << "request in flight got no response";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "released");
  EXPECT_TRUE(busy.wait_close().closed);
  EXPECT_TRUE(server_->wait_done(5s)) << "done() did not fire";
  EXPECT_EQ(server().open_connections(), 0u);
}

TEST_F(HttpServerTest, ShutdownCutsStragglersAfterGrace) {
  start();
  Client c(sock());
  ASSERT_TRUE(c.ok());
  // A body that never completes keeps the request in flight.
  ASSERT_TRUE(c.send("POST /hash HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nabc"));
  ASSERT_TRUE(wait_for([&] { return shared_.requests.load() == 1; }, 5s));
  server_->begin_shutdown(200ms);
  EXPECT_TRUE(server_->wait_done(5s)) << "connection not cut after the grace period";
  EXPECT_TRUE(c.wait_close().closed);
  EXPECT_EQ(server().open_connections(), 0u);
}

TEST_F(HttpServerTest, ShutdownWithNoConnectionsReportsDone) {
  start(test_options(), 1);
  server_->begin_shutdown(5s);
  EXPECT_TRUE(server_->wait_done(5s));
}

}  // namespace
}  // namespace berth::io::http
