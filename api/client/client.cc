#include "api/client/client.h"

#include "api/json/reader.h"
#include "core/base/strings.h"

namespace berth::api::client {

using namespace std::chrono_literals;

Error daemon_unreachable(const io::Endpoint& ep, const Error& cause) {
  return Error{Errc::unavailable, cause.sys_errno,
               str_cat("Cannot connect to the berth daemon at ", ep.str(), ". Is berthd running? (",
                       cause.message, ")")};
}

static Errc errc_from_status(int status) {
  switch (status) {
    case 400: return Errc::invalid_argument;
    case 401: return Errc::unauthorized;
    case 403: return Errc::forbidden;
    case 404: return Errc::not_found;
    case 409: return Errc::conflict;
    case 304: return Errc::not_modified;
    case 413: return Errc::too_large;
    case 501: return Errc::not_implemented;
    case 503: return Errc::unavailable;
    default: return Errc::internal;
  }
}

Error error_from_response(const RawResponse& r) {
  std::string msg;
  if (r.content_type.find("json") != std::string::npos) {
    if (auto p = json::parse(r.body)) {
      json::od::value v;
      if ((*p)->doc.get_value().get(v) == simdjson::SUCCESS) {
        std::string_view m;
        if (v.find_field_unordered("message").get_string().get(m) == simdjson::SUCCESS)
          msg = std::string(m);
      }
    }
  }
  if (msg.empty()) msg = std::string(trim(r.body));
  if (msg.empty()) msg = str_cat("HTTP status ", r.status);
  // As docker's client words it, so scripts matching on it keep working.
  return Error{errc_from_status(r.status), 0, "Error response from daemon: " + msg};
}

io::Task<Result<io::http::ClientConnection*>> Client::connection() {
  if (conn_ && !conn_->reusable()) conn_.reset();
  if (!conn_) {
    auto c = co_await io::http::ClientConnection::open(ep_, 30s);
    if (!c) co_return std::unexpected(daemon_unreachable(ep_, c.error()));
    conn_ = std::move(*c);
  }
  co_return conn_.get();
}

io::Task<Result<io::http::ClientConnection*>> Client::exchange(io::http::ClientRequest req) {
  if (!req.body.empty() && !io::http::find_header(req.headers, "Content-Type"))
    req.headers.emplace_back("Content-Type", "application/json");
  req.force_length = req.method == "POST" || req.method == "PUT";
  // A kept-alive connection may have been closed by the server meanwhile:
  // retry once on a fresh connection when nothing was answered.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = !conn_;
    auto c = co_await connection();
    if (!c) co_return std::unexpected(c.error());
    auto sent = co_await (*c)->send(req);
    if (sent) {
      auto head = co_await (*c)->read_head(std::nullopt);
      if (head) co_return *c;
      if (fresh) co_return std::unexpected(head.error());
    } else if (fresh) {
      co_return std::unexpected(sent.error());
    }
    conn_.reset();
  }
  co_return fail(Errc::unavailable, "the daemon closed the connection");
}

static io::Task<Result<RawResponse>> read_response(io::http::ClientConnection* c, size_t limit) {
  RawResponse r;
  r.status = c->status();
  r.content_type = std::string(c->header("Content-Type").value_or(""));
  auto b = co_await c->read_body_all(limit);
  if (!b) co_return std::unexpected(b.error());
  r.body = std::move(*b);
  co_return r;
}

io::Task<Result<RawResponse>> Client::request(std::string method, std::string target,
                                              std::string body, io::http::Headers headers) {
  io::http::ClientRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.headers = std::move(headers);
  req.body = std::move(body);
  auto c = co_await exchange(std::move(req));
  if (!c) co_return std::unexpected(c.error());
  co_return co_await read_response(*c, 1ull << 30);
}

io::Task<Result<RawResponse>> Client::upload(std::string method, std::string target, int body_fd,
                                             io::http::Headers headers) {
  conn_.reset();
  auto c = co_await connection();
  if (!c) co_return std::unexpected(c.error());
  io::http::ClientConnection* conn = *c;
  io::http::ClientRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.headers = std::move(headers);
  req.chunked_body = true;
  auto sent = co_await conn->send(req);
  if (!sent) {
    conn_.reset();
    co_return std::unexpected(sent.error());
  }
  constexpr size_t kChunk = 1 << 20;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  std::optional<Error> send_error;
  for (;;) {
    int n = co_await io::read(body_fd, buf.get(), kChunk);
    if (n < 0) {
      // The request stays unfinished: the daemon sees a cut body and drops it.
      conn_.reset();
      co_return sys_fail(-n, "read");
    }
    if (n == 0) break;
    auto w = co_await conn->write_body(std::string_view(buf.get(), static_cast<size_t>(n)));
    if (!w) {
      // Most likely the daemon answered early and closed: read its answer.
      send_error = w.error();
      break;
    }
  }
  buf.reset();
  if (!send_error) {
    auto e = co_await conn->end_body();
    if (!e) send_error = e.error();
  }
  auto head = co_await conn->read_head(std::nullopt);
  if (!head) {
    conn_.reset();
    co_return std::unexpected(send_error ? *send_error : head.error());
  }
  auto r = co_await read_response(conn, 1ull << 30);
  if (!r || send_error) conn_.reset();
  co_return r;
}

io::Task<Result<uint64_t>> Client::download(std::string method, std::string target,
                                            std::function<Result<int>()> open_output) {
  io::http::ClientRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  auto c = co_await exchange(std::move(req));
  if (!c) co_return std::unexpected(c.error());
  io::http::ClientConnection* conn = *c;
  if (conn->status() < 200 || conn->status() >= 300) {
    auto r = co_await read_response(conn, 1 << 20);
    if (!r) co_return std::unexpected(r.error());
    co_return std::unexpected(error_from_response(*r));
  }
  auto fd = open_output();
  if (!fd) {
    conn_.reset();
    co_return std::unexpected(fd.error());
  }
  uint64_t total = 0;
  for (;;) {
    auto chunk = co_await conn->read_body();
    if (!chunk) {
      conn_.reset();
      co_return std::unexpected(chunk.error());
    }
    if (chunk->empty()) break;
    // The chunk stays valid until the next read_body(): write all of it first.
    std::string_view d = *chunk;
    while (!d.empty()) {
      int n = co_await io::write(*fd, d.data(), d.size());
      if (n <= 0) {
        conn_.reset();
        co_return sys_fail(n < 0 ? -n : EIO, "write");
      }
      d.remove_prefix(static_cast<size_t>(n));
      total += static_cast<uint64_t>(n);
    }
  }
  co_return total;
}

io::Task<Result<std::unique_ptr<io::http::ClientConnection>>> Client::open_stream(
    std::string method, std::string target, std::string body, io::http::Headers headers) {
  auto opened = co_await io::http::ClientConnection::open(ep_, 30s);
  if (!opened) co_return std::unexpected(daemon_unreachable(ep_, opened.error()));
  std::unique_ptr<io::http::ClientConnection> conn = std::move(*opened);
  io::http::ClientRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.headers = std::move(headers);
  req.body = std::move(body);
  if (!req.body.empty() && !io::http::find_header(req.headers, "Content-Type"))
    req.headers.emplace_back("Content-Type", "application/json");
  req.force_length = req.method == "POST" || req.method == "PUT";
  auto sent = co_await conn->send(req);
  if (!sent) co_return std::unexpected(sent.error());
  auto head = co_await conn->read_head(std::nullopt);
  if (!head) co_return std::unexpected(head.error());
  int status = conn->status();
  if (status != 101 && (status < 200 || status >= 300)) {
    auto r = co_await read_response(conn.get(), 1 << 20);
    if (!r) co_return std::unexpected(r.error());
    co_return std::unexpected(error_from_response(*r));
  }
  co_return conn;
}

io::Task<Result<std::unique_ptr<io::http::ClientConnection>>> Client::hijack(std::string method,
                                                                             std::string target,
                                                                             std::string body) {
  io::http::Headers headers{{"Connection", "Upgrade"}, {"Upgrade", "tcp"}};
  co_return co_await open_stream(std::move(method), std::move(target), std::move(body),
                                 std::move(headers));
}

io::Task<Result<RawResponse>> Client::call(std::string method, std::string target, std::string body,
                                           io::http::Headers headers) {
  auto r =
      co_await request(std::move(method), std::move(target), std::move(body), std::move(headers));
  if (!r) co_return r;
  if (r->status < 200 || r->status >= 300) co_return std::unexpected(error_from_response(*r));
  co_return r;
}

io::Task<Result<VersionInfo>> Client::version() {
  auto r = co_await call("GET", "/v1.44/version");
  if (!r) co_return std::unexpected(r.error());
  auto p = json::parse(r->body);
  if (!p) co_return std::unexpected(p.error());
  VersionInfo v;
  auto res =
      json::for_each_root_field(**p, [&](std::string_view k, json::od::value val) -> Result<void> {
        auto str = [&](std::string& out) -> Result<void> {
          auto s = json::get_string(val, k);
          if (!s) return std::unexpected(s.error());
          out = std::move(*s);
          return {};
        };
        if (k == "Version") return str(v.version);
        if (k == "ApiVersion") return str(v.api_version);
        if (k == "MinAPIVersion") return str(v.min_api_version);
        if (k == "GitCommit") return str(v.git_commit);
        if (k == "GoVersion") return str(v.go_version);
        if (k == "Os") return str(v.os);
        if (k == "Arch") return str(v.arch);
        if (k == "KernelVersion") return str(v.kernel_version);
        if (k == "BuildTime") return str(v.build_time);
        if (k == "Platform") {
          return json::for_each_field(val, k,
                                      [&](std::string_view pk, json::od::value pv) -> Result<void> {
                                        if (pk == "Name") {
                                          auto s = json::get_string(pv, "Platform.Name");
                                          if (!s) return std::unexpected(s.error());
                                          v.platform = *s;
                                        }
                                        return {};
                                      });
        }
        return {};
      });
  if (!res) co_return std::unexpected(res.error());
  co_return v;
}

io::Task<Result<std::string>> Client::info() {
  auto r = co_await call("GET", "/v1.44/info");
  if (!r) co_return std::unexpected(r.error());
  co_return std::move(r->body);
}

}  // namespace berth::api::client
