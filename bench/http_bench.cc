// http_bench: the per-request HTTP/API work of berthd, without the network
// (and one variant with it, for scale).
//
//  - Parse*: MessageReader reading a docker CLI request head from memory.
//  - Route*: what the server and the router do with the target: split the
//    query and decode it, percent-decode the path, strip and check /vX.Y,
//    Router::match against the full route table (api::build_router plus the
//    image and container routes, as berthd registers them).
//  - PingInMemory: GET /_ping end to end in memory: parse, route, and build
//    and write the response exactly as Connection::run, Response::send and
//    the ping handler do, into a memory Transport. (The server's Connection
//    owns a socket Transport and Request/Response can only be made by it, so
//    this replays its steps through the public API; setup checks that the
//    bytes equal what the real server sends.)
//  - PingServerUnixSocket: the real io::http::Server + Router::dispatch +
//    ping handler on one reactor in this thread, with a keep-alive client
//    on the same reactor over a unix socket: adds io_uring and the kernel.
//
//   http_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/server/api.h"
#include "core/base/strings.h"
#include "io/http/message.h"
#include "io/http/reader.h"
#include "io/http/server.h"
#include "io/http/transport.h"
#include "io/net.h"
#include "io/reactor.h"

namespace {

using namespace berth;
using namespace std::chrono_literals;
namespace http = berth::io::http;

// `docker ps -a` (docker CLI 28.2.2) byte for byte as captured on its
// socket (after its HEAD /_ping).
constexpr std::string_view kCliRequest =
    "GET /v1.44/containers/json?all=1 HTTP/1.1\r\n"
    "Host: api.moby.localhost\r\n"
    "User-Agent: Docker-Client/28.2.2 (linux)\r\n"
    "\r\n";

// `docker inspect <id>`: a route with a parameter (the linear part of the
// router).
constexpr std::string_view kInspectTarget =
    "/v1.44/containers/4f66ad9a0b2e7c9d8e1f3a5b7c9d0e2f4a6b8c0d1e3f5a7b9c1d3e5f7a9b0c2d/json";

// What wrk sends in bench/ping_load.sh.
constexpr std::string_view kPingRequest =
    "GET /_ping HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "\r\n";

// The deadlines the server passes (ServerOptions defaults).
const http::ServerOptions kServerOptions{};

// Hands out the same request once per read(), as a keep-alive client that
// sends its next request after the answer; captures what is written.
class MemoryTransport : public http::Transport {
 public:
  explicit MemoryTransport(std::string_view request)
      : http::Transport(unique_fd()), request_(request) {}
  io::Task<int> read(char* buf, size_t len, std::optional<io::Duration>) override {
    size_t n = std::min(len, request_.size() - pos_);
    std::memcpy(buf, request_.data() + pos_, n);
    pos_ += n;
    if (pos_ == request_.size()) pos_ = 0;
    co_return static_cast<int>(n);
  }
  io::Task<int> write_all(std::string_view data, std::optional<io::Duration>) override {
    written_.assign(data);
    co_return 0;
  }
  io::Task<int> write_all_v(std::span<const iovec> parts, std::optional<io::Duration>) override {
    written_.clear();
    for (const iovec& v : parts) written_.append(static_cast<const char*>(v.iov_base), v.iov_len);
    co_return 0;
  }
  const std::string& written() const { return written_; }

 private:
  std::string_view request_;
  size_t pos_ = 0;
  std::string written_;
};

// The route table berthd serves (engine-less: registration only captures
// the engine pointer; nothing here runs a handler that needs it).
struct Api {
  api::ApiContext ctx;
  api::Router router;
  Api() {
    ctx.server_version = "0.1.0";
    router = api::build_router(ctx);
    api::add_image_routes(router, ctx);
    api::add_container_routes(router, ctx);
  }
};
Api& the_api() {
  static Api a;
  return a;
}

// Server::prepare_target + the version part of Router::dispatch + match.
struct Routed {
  std::string path;
  std::string_view raw_query;
  std::vector<std::pair<std::string, std::string>> query;
  std::string version;
  api::Router::Match match;
};

bool route(const api::Router& r, std::string_view method, std::string_view target, Routed& out) {
  out.raw_query = {};
  out.query.clear();
  std::string_view p = target;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    p = target.substr(0, q);
    out.raw_query = target.substr(q + 1);
    out.query = http::parse_query(out.raw_query);
  }
  auto decoded = http::percent_decode(p, false);
  if (!decoded || decoded->empty() || (*decoded)[0] != '/') return false;
  out.path = std::move(*decoded);
  std::string_view path = out.path;
  out.version = std::string(api::kApiVersion);
  if (path.size() > 2 && path[1] == 'v' && path[2] >= '0' && path[2] <= '9') {
    size_t end = path.find('/', 1);
    std::string_view v = path.substr(2, end == std::string_view::npos ? path.npos : end - 2);
    if (v.find_first_not_of("0123456789.") == std::string_view::npos) {
      if (api::compare_versions(v, api::kMinApiVersion) < 0 ||
          api::compare_versions(v, api::kApiVersion) > 0)
        return false;
      out.version = std::string(v);
      path = end == std::string_view::npos ? std::string_view("/") : path.substr(end);
    }
  }
  out.match = r.match(method, path);
  return out.match.handler != nullptr;
}

// --- parse ---------------------------------------------------------------

io::Task<void> parse_loop(benchmark::State* st, http::MessageReader* reader, bool* done) {
  for (auto _ : *st) {
    auto head =
        co_await reader->read_head(kServerOptions.idle_timeout, kServerOptions.head_timeout);
    if (!head) {
      st->SkipWithError(head.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(reader->url().data());
    benchmark::DoNotOptimize(reader->headers().size());
  }
  *done = true;
}

// A keep-alive connection: one reader, one request after another.
void BM_ParseCliHead(benchmark::State& state) {
  MemoryTransport t(kCliRequest);
  http::MessageReader reader(http::MessageReader::Kind::request, &t);
  bool done = false;
  io::spawn(parse_loop(&state, &reader, &done));
  if (!done) state.SkipWithError("the parse loop suspended");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kCliRequest.size()));
}
BENCHMARK(BM_ParseCliHead);

io::Task<void> parse_fresh_loop(benchmark::State* st, MemoryTransport* t, bool* done) {
  for (auto _ : *st) {
    http::MessageReader reader(http::MessageReader::Kind::request, t);
    auto head = co_await reader.read_head(kServerOptions.idle_timeout, kServerOptions.head_timeout);
    if (!head) {
      st->SkipWithError(head.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(reader.headers().size());
  }
  *done = true;
}

// A new connection per request: adds the reader's set-up (llhttp init and
// its 4 KiB buffer).
void BM_ParseCliHeadNewReader(benchmark::State& state) {
  MemoryTransport t(kCliRequest);
  bool done = false;
  io::spawn(parse_fresh_loop(&state, &t, &done));
  if (!done) state.SkipWithError("the parse loop suspended");
}
BENCHMARK(BM_ParseCliHeadNewReader);

// --- route ---------------------------------------------------------------

void BM_RouteCliRequest(benchmark::State& state) {
  const api::Router& r = the_api().router;
  Routed out;
  for (auto _ : state) {
    if (!route(r, "GET", "/v1.44/containers/json?all=1", out)) {
      state.SkipWithError("no route for GET /containers/json");
      break;
    }
    benchmark::DoNotOptimize(out.match.handler);
  }
}
BENCHMARK(BM_RouteCliRequest);

void BM_RouteInspect(benchmark::State& state) {
  const api::Router& r = the_api().router;
  Routed out;
  for (auto _ : state) {
    if (!route(r, "GET", kInspectTarget, out)) {
      state.SkipWithError("no route for GET /containers/{id}/json");
      break;
    }
    benchmark::DoNotOptimize(out.match.handler);
  }
}
BENCHMARK(BM_RouteInspect);

// --- GET /_ping end to end in memory ------------------------------------

// Response::append_head + send as the ping handler calls it.
void ping_response(std::string& out, const std::string& common, bool keep_alive,
                   std::string_view body) {
  std::string extra;
  extra.append("Cache-Control")
      .append(": ")
      .append("no-cache, no-store, must-revalidate")
      .append("\r\n");
  extra.append("Pragma").append(": ").append("no-cache").append("\r\n");
  extra.append("Swarm").append(": ").append("inactive").append("\r\n");
  http::append_status_line(out, 200);
  out.append(common);
  out.append(extra);
  out.append("Content-Type: ").append("text/plain; charset=utf-8").append("\r\n");
  out.append("Content-Length: ");
  // str_append(out, body.size()) in the server; spelled out because GCC 12
  // sees a bogus -Wrestrict in it once the size is a constant.
  char len[24];
  auto r = std::to_chars(len, len + sizeof len, body.size());
  out.append(len, static_cast<size_t>(r.ptr - len));
  out.append("\r\n");
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
  out.append(body);
}

io::Task<void> ping_loop(benchmark::State* st, MemoryTransport* t, const std::string* common,
                         bool* done) {
  const api::Router& r = the_api().router;
  http::MessageReader reader(http::MessageReader::Kind::request, t);
  Routed routed;
  std::string out;
  for (auto _ : *st) {
    auto head = co_await reader.read_head(kServerOptions.idle_timeout, kServerOptions.head_timeout);
    if (!head) {
      st->SkipWithError(head.error().message.c_str());
      break;
    }
    bool keep_alive = reader.keep_alive();
    (void)reader.expects_continue();  // Connection::run asks for every request
    if (!route(r, reader.method(), reader.url(), routed)) {
      st->SkipWithError("no route for GET /_ping");
      break;
    }
    ping_response(out, *common, keep_alive, "OK");
    int rc = co_await t->write_all(out, kServerOptions.write_timeout);
    if (rc < 0) {
      st->SkipWithError("write failed");
      break;
    }
    out.clear();
  }
  *done = true;
}

// The bytes the real server answers to kPingRequest (filled by
// BM_PingServerUnixSocket when it runs first; checked by BM_PingInMemory).
std::string g_server_ping_response;

void BM_PingInMemory(benchmark::State& state) {
  MemoryTransport t(kPingRequest);
  std::string common = api::common_headers(the_api().ctx);
  bool done = false;
  io::spawn(ping_loop(&state, &t, &common, &done));
  if (!done) {
    state.SkipWithError("the ping loop suspended");
    return;
  }
  if (!g_server_ping_response.empty() && t.written() != g_server_ping_response)
    state.SkipWithError("the in-memory answer differs from the server's");
  state.counters["response_bytes"] = static_cast<double>(t.written().size());
}

// --- the real server over a unix socket, one reactor --------------------

io::Task<void> ping_client_loop(benchmark::State* st, http::Transport* client, bool* ok) {
  char buf[2048];
  // First exchange outside the timed loop: learn the response's length.
  std::string first;
  size_t need = 0;
  {
    int rc = co_await client->write_all(kPingRequest, 5s);
    if (rc < 0) {
      *ok = false;
      co_return;
    }
    for (;;) {
      int n = co_await client->read(buf, sizeof buf, 5s);
      if (n <= 0) {
        *ok = false;
        co_return;
      }
      first.append(buf, static_cast<size_t>(n));
      size_t end = first.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      size_t cl = first.find("Content-Length: ");
      if (cl == std::string::npos || cl > end) {
        *ok = false;
        co_return;
      }
      need = end + 4 +
             parse_number<size_t>(
                 std::string_view(first).substr(cl + 16, first.find('\r', cl) - cl - 16))
                 .value_or(0);
      if (first.size() >= need) break;
    }
  }
  g_server_ping_response = first;
  for (auto _ : *st) {
    int rc = co_await client->write_all(kPingRequest, std::nullopt);
    if (rc < 0) {
      st->SkipWithError("client write failed");
      break;
    }
    size_t got = 0;
    bool failed = false;
    while (got < need) {
      int n = co_await client->read(buf, sizeof buf, std::nullopt);
      if (n <= 0) {
        failed = true;
        break;
      }
      got += static_cast<size_t>(n);
    }
    if (failed) {
      st->SkipWithError("client read failed");
      break;
    }
  }
  *ok = true;
}

void BM_PingServerUnixSocket(benchmark::State& state) {
  auto reactor = io::Reactor::create({});
  if (!reactor) {
    state.SkipWithError(reactor.error().message.c_str());
    return;
  }
  io::Reactor* rp = reactor->get();
  Api& a = the_api();
  http::ServerOptions so;
  so.common_headers = api::common_headers(a.ctx);
  const api::Router* router = &a.router;
  http::Server server(
      so, [router](http::Request& q, http::Response& s) { return router->dispatch(q, s); }, 1);
  server.attach_reactor();

  char dir_template[] = "/tmp/http-bench-XXXXXX";
  if (!::mkdtemp(dir_template)) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  std::string dir = dir_template;
  io::Endpoint ep;
  ep.kind = io::Endpoint::Kind::unix_socket;
  ep.path = dir + "/bench.sock";
  auto lfd = io::listen_endpoint(ep);
  if (!lfd) {
    state.SkipWithError(lfd.error().message.c_str());
    std::filesystem::remove_all(dir);
    return;
  }
  server.add_listener(lfd->get());
  auto cfd = io::connect_blocking(ep);
  if (!cfd) {
    state.SkipWithError(cfd.error().message.c_str());
    std::filesystem::remove_all(dir);
    return;
  }
  bool ok = false;
  {
    http::Transport client(std::move(*cfd));
    rp->run_until(ping_client_loop(&state, &client, &ok));
    ::shutdown(client.fd(), SHUT_RDWR);
  }
  // Let the server see the close and drain, then stop the loop.
  server.shutdown(1s, [rp] { rp->stop(); });
  rp->run();
  std::filesystem::remove_all(dir);
  if (!ok) state.SkipWithError("the first exchange failed");
}
// Registered before PingInMemory so that it can check against the server.
BENCHMARK(BM_PingServerUnixSocket)->UseRealTime();
BENCHMARK(BM_PingInMemory);

}  // namespace

BENCHMARK_MAIN();
