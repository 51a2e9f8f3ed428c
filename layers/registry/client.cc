#include "layers/registry/client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/stat.h>

#include <filesystem>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "io/pool.h"

namespace berth::layers::registry {

namespace {

constexpr int kMaxRedirects = 8;

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// "host:port" -> host (brackets of an IPv6 literal dropped), port or 0.
std::pair<std::string, uint16_t> split_host_port(std::string_view s) {
  if (s.starts_with("[")) {
    auto close = s.find(']');
    if (close == std::string_view::npos) return {std::string(s), 0};
    std::string host(s.substr(1, close - 1));
    uint16_t port = 0;
    if (close + 1 < s.size() && s[close + 1] == ':')
      port = parse_number<uint16_t>(s.substr(close + 2)).value_or(0);
    return {host, port};
  }
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || s.find(':') != colon) return {std::string(s), 0};
  return {std::string(s.substr(0, colon)), parse_number<uint16_t>(s.substr(colon + 1)).value_or(0)};
}

bool in_cidr(const std::string& ip, std::string_view cidr) {
  auto parts = split_once(cidr, '/');
  if (!parts) return false;
  auto bits = parse_number<int>(parts->second);
  in_addr net{}, addr{};
  if (!bits || *bits < 0 || *bits > 32) return false;
  if (::inet_pton(AF_INET, std::string(parts->first).c_str(), &net) != 1) return false;
  if (::inet_pton(AF_INET, ip.c_str(), &addr) != 1) return false;
  uint32_t mask = *bits == 0 ? 0 : ~uint32_t{0} << (32 - *bits);
  return (ntohl(net.s_addr) & mask) == (ntohl(addr.s_addr) & mask);
}

bool is_ip_literal(const std::string& host) {
  in_addr a4{};
  in6_addr a6{};
  return ::inet_pton(AF_INET, host.c_str(), &a4) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

// A host name resolved on the pool (getaddrinfo blocks, so never on a
// reactor) to a numeric address, IPv4 preferred.
Result<std::string> numeric_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return fail(Errc::unavailable, str_cat("resolve ", host, ": ", ::gai_strerror(rc)));
  const addrinfo* pick = res;
  for (const addrinfo* a = res; a; a = a->ai_next)
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  char buf[INET6_ADDRSTRLEN] = {};
  rc = ::getnameinfo(pick->ai_addr, pick->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST);
  ::freeaddrinfo(res);
  if (rc != 0) return fail(Errc::unavailable, str_cat("resolve ", host, ": ", ::gai_strerror(rc)));
  return std::string(buf);
}

bool is_redirect(int s) {
  return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

}  // namespace

std::string Url::origin() const {
  bool v6 = host.find(':') != std::string::npos;
  return str_cat(https ? "https://" : "http://", v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

Result<Url> parse_url(std::string_view s) {
  Url u;
  if (s.starts_with("https://")) {
    s.remove_prefix(8);
  } else if (s.starts_with("http://")) {
    u.https = false;
    s.remove_prefix(7);
  } else {
    return fail(Errc::invalid_argument, "not an http(s) URL: " + std::string(s));
  }
  auto slash = s.find_first_of("/?");
  std::string_view authority = s.substr(0, slash);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  auto [host, port] = split_host_port(authority);
  if (host.empty()) return fail(Errc::invalid_argument, "URL without a host");
  u.host = host;
  u.port = port ? port : (u.https ? 443 : 80);
  u.target = slash == std::string_view::npos ? "/" : std::string(s.substr(slash));
  if (u.target.starts_with("?")) u.target = "/" + u.target;
  return u;
}

// --- Registries --------------------------------------------------------------

Registries::Registries(RegistryOptions opts) : opts_(std::move(opts)) {}

bool Registries::insecure(const std::string& name) const {
  auto [host, port] = split_host_port(name);
  if (!opts_.strict_loopback &&
      (host == "localhost" || host == "::1" || in_cidr(host, "127.0.0.0/8")))
    return true;
  for (const auto& e : opts_.insecure) {
    if (e == name || e == host) return true;
    if (e.find('/') != std::string::npos && in_cidr(host, e)) return true;
  }
  return false;
}

RegistryHost Registries::host(const std::string& name) const {
  RegistryHost h;
  h.name = name;
  if (name == "docker.io" || name == "index.docker.io") {
    h.host = "registry-1.docker.io";
    h.port = 443;
  } else {
    auto [host, port] = split_host_port(name);
    h.host = host;
    h.port = port ? port : 443;
    h.explicit_port = port != 0;
  }
  h.insecure = insecure(name);
  if (!opts_.certs_dir.empty()) {
    std::string dir = opts_.certs_dir + "/" + name;
    if (file_exists(dir + "/ca.crt")) {
      h.ca_file = dir + "/ca.crt";
    } else {
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".crt") {
          h.ca_file = e.path().string();
          break;
        }
      }
    }
    if (file_exists(dir + "/client.cert") && file_exists(dir + "/client.key")) {
      h.cert_file = dir + "/client.cert";
      h.key_file = dir + "/client.key";
    }
  }
  return h;
}

Result<std::shared_ptr<io::http::TlsContext>> Registries::tls(bool verify, const std::string& ca,
                                                              const std::string& cert,
                                                              const std::string& key) {
  std::string k = str_cat(verify ? "v|" : "n|", ca, "|", cert, "|", key);
  std::lock_guard lock(mu_);
  if (auto it = tls_.find(k); it != tls_.end()) return it->second;
  io::http::TlsConfig cfg;
  cfg.verify = verify;
  cfg.ca_file = ca;
  cfg.cert_file = cert;
  cfg.key_file = key;
  auto ctx = BERTH_TRY(io::http::TlsContext::create(cfg));
  tls_[k] = ctx;
  return ctx;
}

std::optional<bool> Registries::plain_http(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = plain_.find(name);
  if (it == plain_.end()) return std::nullopt;
  return it->second;
}

void Registries::set_plain_http(const std::string& name, bool plain) {
  std::lock_guard lock(mu_);
  plain_[name] = plain;
}

std::optional<std::string> Registries::token(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(key);
  if (it == tokens_.end()) return std::nullopt;
  if (std::chrono::steady_clock::now() >= it->second.expires) {
    tokens_.erase(it);
    return std::nullopt;
  }
  return it->second.value;
}

void Registries::put_token(const std::string& key, std::string token, std::chrono::seconds ttl) {
  std::lock_guard lock(mu_);
  if (tokens_.size() > 256) tokens_.clear();  // bounded; tokens are cheap to fetch again
  tokens_[key] = Token{std::move(token), std::chrono::steady_clock::now() + ttl};
}

// --- Session -----------------------------------------------------------------

Session::Session(Registries& regs, RegistryHost host, Credentials creds,
                 std::vector<std::string> scopes)
    : regs_(regs), host_(std::move(host)), creds_(std::move(creds)), scopes_(std::move(scopes)) {
  if (!creds_.registry_token.empty()) authorization_ = "Bearer " + creds_.registry_token;
}

Session::~Session() = default;

io::Task<Result<std::unique_ptr<io::http::ClientConnection>>> Session::connect(Url url,
                                                                               bool* tls_failed) {
  if (tls_failed) *tls_failed = false;
  std::string origin = url.origin();
  if (auto it = idle_.find(origin); it != idle_.end() && !it->second.empty()) {
    auto c = std::move(it->second.back());
    it->second.pop_back();
    co_return c;
  }
  io::Endpoint ep;
  ep.kind = io::Endpoint::Kind::tcp;
  ep.port = url.port;
  ep.host = url.host;
  if (!is_ip_literal(url.host)) {
    std::string host_name = url.host;
    auto lookup = [host_name] { return numeric_host(host_name); };
    auto addr = co_await io::offload(std::move(lookup));
    if (!addr) {
      co_return fail(Errc::unavailable, str_cat("cannot reach the registry at ", url.host, ":",
                                                url.port, ": ", addr.error().message));
    }
    ep.host = *addr;
  }
  auto timeout = std::chrono::duration_cast<io::Duration>(regs_.options().connect_timeout);
  auto fd = co_await io::connect(ep, timeout);
  if (!fd) {
    co_return fail(Errc::unavailable, str_cat("cannot reach the registry at ", url.host, ":",
                                              url.port, ": ", fd.error().message));
  }
  std::string host_header = str_cat(url.host.find(':') != std::string::npos ? "[" : "", url.host,
                                    url.host.find(':') != std::string::npos ? "]" : "");
  if ((url.https && url.port != 443) || (!url.https && url.port != 80))
    str_append(host_header, ":", url.port);
  if (!url.https) {
    co_return std::make_unique<io::http::ClientConnection>(
        std::make_unique<io::http::Transport>(std::move(*fd)), std::move(host_header));
  }
  // Certificates are verified unless the host is an insecure registry; a
  // redirect to another host is judged by that host's name.
  std::string name = str_cat(url.host, ":", url.port);
  bool same = url.host == host_.host && url.port == host_.port;
  bool insecure = same ? host_.insecure : regs_.insecure(name) || regs_.insecure(url.host);
  auto ctx = same ? regs_.tls(!insecure, host_.ca_file, host_.cert_file, host_.key_file)
                  : regs_.tls(!insecure, "", "", "");
  if (!ctx) co_return std::unexpected(ctx.error());
  auto t = co_await io::http::TlsTransport::handshake(std::move(*fd), *ctx, url.host, timeout);
  if (!t) {
    if (tls_failed) *tls_failed = true;
    co_return std::unexpected(t.error());
  }
  co_return std::make_unique<io::http::ClientConnection>(std::move(*t), std::move(host_header));
}

io::Task<Result<Url>> Session::base_url() {
  if (base_) co_return *base_;
  Url u;
  u.host = host_.host;
  u.port = host_.port;
  u.target = "/";
  if (!host_.insecure) {
    u.https = true;
    base_ = u;
    co_return u;
  }
  auto known = regs_.plain_http(host_.name);
  if (known) {
    u.https = !*known;
    if (u.https == false && !host_.explicit_port) u.port = 80;
    base_ = u;
    co_return u;
  }
  // An insecure registry: HTTPS without verification first, then plain
  // HTTP (as docker tries them).
  u.https = true;
  bool tls_failed = false;
  auto c = co_await connect(u, &tls_failed);
  if (c) {
    idle_[u.origin()].push_back(std::move(*c));
    regs_.set_plain_http(host_.name, false);
    base_ = u;
    co_return u;
  }
  if (!tls_failed) co_return std::unexpected(c.error());
  log::debug("registry ", host_.name, ": no TLS (", c.error().message, "), using plain HTTP");
  u.https = false;
  if (!host_.explicit_port) u.port = 80;
  regs_.set_plain_http(host_.name, true);
  base_ = u;
  co_return u;
}

io::Task<Result<std::unique_ptr<Reply>>> Session::send_once(const RegistryRequest& req,
                                                            const Url& url, bool with_auth) {
  io::http::ClientRequest cr;
  cr.method = req.method;
  cr.target = url.target;
  cr.headers = req.headers;
  if (with_auth && !authorization_.empty())
    cr.headers.emplace_back("Authorization", authorization_);
  if (!cr.headers.empty() && !io::http::find_header(cr.headers, "User-Agent"))
    cr.headers.emplace_back("User-Agent", "berth");
  if (req.body_stream) {
    cr.headers.emplace_back("Content-Length", std::to_string(req.body_length));
  } else {
    cr.body = req.body;
    cr.force_length = req.method == "PUT" || req.method == "POST" || req.method == "PATCH";
  }
  auto timeout = std::chrono::duration_cast<io::Duration>(regs_.options().read_timeout);
  int attempts = std::max(1, regs_.options().attempts);
  Error last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) {
      auto backoff = std::chrono::milliseconds(200 << std::min(attempt - 1, 4));
      co_await io::sleep(backoff);
    }
    bool pooled = false;
    if (auto it = idle_.find(url.origin()); it != idle_.end() && !it->second.empty()) pooled = true;
    bool tls_failed = false;
    auto conn = co_await connect(url, &tls_failed);
    if (!conn) {
      last = conn.error();
      // A TLS failure (a refused certificate) will not go away by trying again.
      if (tls_failed || (last.code != Errc::unavailable && last.code != Errc::timeout)) break;
      continue;
    }
    auto sent = co_await (*conn)->send(cr);
    if (sent && req.body_stream) {
      uint64_t sent_bytes = 0;
      for (;;) {
        auto chunk = co_await req.body_stream->next();
        if (!chunk) {
          co_return std::unexpected(chunk.error());
        }
        if (chunk->empty()) break;
        int rc = co_await (*conn)->transport().write_all(*chunk, timeout);
        if (rc < 0) {
          co_return sys_fail(-rc, "upload to the registry");
        }
        sent_bytes += chunk->size();
        if (req.on_sent) req.on_sent(sent_bytes);
      }
    }
    if (sent) {
      auto head = co_await (*conn)->read_head(timeout);
      if (head) {
        auto r = std::make_unique<Reply>();
        r->conn = std::move(*conn);
        r->origin = url.origin();
        co_return r;
      }
      last = head.error();
    } else {
      last = sent.error();
    }
    // A streamed body cannot be sent again.
    if (req.body_stream) break;
    // A kept-alive connection the server had closed: try afresh at once.
    if (pooled) --attempt;
  }
  co_return std::unexpected(std::move(last).context(
      str_cat(req.method, " ", url.origin(), url.target.substr(0, url.target.find('?')))));
}

io::Task<Result<void>> Session::authenticate(std::string header) {
  auto challenges = parse_challenges(header);
  for (const auto& c : challenges) {
    if (c.scheme == "basic") {
      if (creds_.username.empty())
        co_return fail(Errc::unauthorized, "unauthorized: authentication required");
      authorization_ = basic_authorization(creds_);
      co_return Result<void>{};
    }
  }
  for (const auto& c : challenges) {
    if (c.scheme != "bearer") continue;
    std::vector<std::string> scopes = scopes_;
    std::string key = str_cat(c.param("realm"), "|", c.param("service"), "|", creds_.username, "|",
                              join(scopes, " "));
    if (auto t = regs_.token(key)) {
      authorization_ = "Bearer " + *t;
      co_return Result<void>{};
    }
    auto url_s = token_url(c, scopes, creds_);
    if (!url_s) co_return std::unexpected(url_s.error());
    auto url = parse_url(*url_s);
    if (!url) co_return std::unexpected(url.error());
    RegistryRequest tr;
    tr.target = *url_s;
    tr.headers.emplace_back("Accept", "application/json");
    if (!creds_.username.empty())
      tr.headers.emplace_back("Authorization", basic_authorization(creds_));
    auto r = co_await send_once(tr, *url, false);
    if (!r) co_return std::unexpected(std::move(r.error()).context("get a registry token"));
    int st = (*r)->status();
    auto body = co_await read_all(std::move(*r), 1 << 20);
    if (!body) co_return std::unexpected(body.error());
    if (st == 401 || st == 403)
      co_return fail(Errc::unauthorized, "unauthorized: incorrect username or password");
    if (st != 200) co_return fail(Errc::unauthorized, str_cat("the token server answered ", st));
    auto tok = parse_token_response(*body);
    if (!tok) co_return std::unexpected(tok.error());
    regs_.put_token(key, *tok, std::chrono::seconds(50));
    authorization_ = "Bearer " + *tok;
    co_return Result<void>{};
  }
  co_return fail(Errc::unauthorized,
                 "unauthorized: the registry asks for an authentication scheme berth does not "
                 "support: " +
                     header);
}

io::Task<Result<std::unique_ptr<Reply>>> Session::send(RegistryRequest req) {
  auto base = co_await base_url();
  if (!base) co_return std::unexpected(base.error());
  Url url = *base;
  if (req.target.starts_with("http://") || req.target.starts_with("https://")) {
    auto u = parse_url(req.target);
    if (!u) co_return std::unexpected(u.error());
    url = *u;
  } else {
    url.target = req.target;
  }
  bool auth_tried = false;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    bool ours = url.host == base->host && url.port == base->port;
    auto r = co_await send_once(req, url, ours);
    if (!r) co_return r;
    int st = (*r)->status();
    if (st == 401 && ours && !auth_tried && !req.body_stream) {
      std::string challenge((*r)->header("WWW-Authenticate").value_or("Bearer realm=\"\""));
      auto drained = co_await read_all(std::move(*r), 1 << 20);
      if (!drained) co_return std::unexpected(drained.error());
      auth_tried = true;
      auto a = co_await authenticate(challenge);
      if (!a) co_return std::unexpected(a.error());
      --hop;
      continue;
    }
    if (req.follow_redirects && is_redirect(st)) {
      std::string loc((*r)->header("Location").value_or(""));
      auto drained = co_await read_all(std::move(*r), 1 << 20);
      if (!drained) co_return std::unexpected(drained.error());
      if (loc.empty())
        co_return fail(Errc::unavailable, "the registry redirected without a Location");
      if (loc.starts_with("/")) {
        url.target = loc;
      } else {
        auto u = parse_url(loc);
        if (!u) co_return std::unexpected(u.error());
        url = *u;
      }
      if (st == 303) req.method = "GET";
      continue;
    }
    co_return r;
  }
  co_return fail(Errc::unavailable, "the registry redirected too many times");
}

io::Task<Result<std::string>> Session::read_all(std::unique_ptr<Reply> r, size_t limit) {
  auto timeout = std::chrono::duration_cast<io::Duration>(regs_.options().read_timeout);
  auto body = co_await r->conn->read_body_all(limit, timeout);
  if (!body) co_return std::unexpected(body.error());
  release(std::move(r));
  co_return body;
}

void Session::release(std::unique_ptr<Reply> r) {
  if (!r || !r->conn || !r->conn->reusable()) return;
  auto& v = idle_[r->origin];
  if (v.size() < 8) v.push_back(std::move(r->conn));
}

io::Task<Error> Session::error_of(std::unique_ptr<Reply> r, std::string what) {
  int st = r->status();
  auto body = co_await read_all(std::move(r), 1 << 20);
  std::string msg = body ? registry_error_message(*body) : std::string();
  Errc code = st == 401 || st == 403                ? Errc::unauthorized
              : st == 404                           ? Errc::not_found
              : st == 400 || st == 405 || st == 409 ? Errc::invalid_argument
                                                    : Errc::unavailable;
  if (msg.empty()) {
    msg = st == 401   ? "unauthorized: authentication required"
          : st == 403 ? "denied: requested access to the resource is denied"
          : st == 404 ? "not found"
                      : str_cat("the registry answered HTTP ", st);
  }
  Error e;
  e.code = code;
  e.message = what.empty() ? msg : what + ": " + msg;
  co_return e;
}

}  // namespace berth::layers::registry
