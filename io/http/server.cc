#include "io/http/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <mutex>

#include "core/base/log.h"
#include "core/base/strings.h"

namespace berth::io::http {

// One accepted connection; lives in the frame of Server::serve().
class Connection {
 public:
  Connection(Server* s, Server::Local* l, int fd)
      : server_(s),
        local_(l),
        transport_(unique_fd(fd)),
        reader_(MessageReader::Kind::request, &transport_,
                MessageReader::Limits{.max_head = s->opts_.max_head_bytes}) {}

  Task<void> run();
  Task<bool> flush();
  Task<bool> send_continue_if_needed();
  void send_error(int status, std::string_view message);

  Server* server_;
  Server::Local* local_;
  Transport transport_;
  MessageReader reader_;
  std::string out_;
  bool idle_ = false;
  bool keep_alive_ = true;
  bool continue_pending_ = false;
  bool is_head_ = false;
  bool wants_upgrade_ = false;
};

// --- Request ------------------------------------------------------------------

std::optional<std::string_view> Request::query(std::string_view name) const {
  for (const auto& [k, v] : query_)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

std::vector<std::string_view> Request::query_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : query_)
    if (k == name) out.emplace_back(v);
  return out;
}

std::optional<std::string_view> Request::param(std::string_view name) const {
  for (const auto& [k, v] : params_)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

Task<Result<std::string_view>> Request::read_body() {
  bool ok = co_await conn_->send_continue_if_needed();
  if (!ok) co_return fail(Errc::io, "write 100 Continue failed");
  co_return co_await reader_->read_body(conn_->server_->options().body_timeout);
}

Task<Result<std::string>> Request::read_all(size_t limit) {
  bool ok = co_await conn_->send_continue_if_needed();
  if (!ok) co_return fail(Errc::io, "write 100 Continue failed");
  co_return co_await reader_->read_body_all(limit, conn_->server_->options().body_timeout);
}

// --- Response ------------------------------------------------------------------

void Response::add_header(std::string_view name, std::string_view value) {
  extra_headers_.append(name).append(": ").append(value).append("\r\n");
}

bool Response::server_stopping() const {
  return conn_->local_->draining;
}

bool Response::peer_gone() const {
  char b;
  ssize_t n = ::recv(conn_->transport_.fd(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

void Response::append_head(std::string& out, int status, bool chunked,
                           std::string_view content_type, size_t length) {
  append_status_line(out, status);
  out.append(conn_->server_->options().common_headers);
  out.append(extra_headers_);
  if (!content_type.empty()) out.append("Content-Type: ").append(content_type).append("\r\n");
  if (chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (status != 204 && status != 304 && !(status >= 100 && status < 200)) {
    out.append("Content-Length: ");
    str_append(out, length);
    out.append("\r\n");
  }
  // A client still waiting for 100 Continue will not send its body: the
  // connection cannot carry another request.
  if (conn_->continue_pending_) conn_->keep_alive_ = false;
  if (!conn_->keep_alive_ || close_) out.append("Connection: close\r\n");
  out.append("\r\n");
}

void Response::send(int status, std::string_view content_type, std::string_view body) {
  if (state_ != State::none) return;
  state_ = State::buffered;
  append_head(conn_->out_, status, false, content_type, body.size());
  if (!conn_->is_head_ && status != 204 && status != 304) conn_->out_.append(body);
}

void Response::send_empty(int status) {
  send(status, {}, {});
}

Task<Result<void>> Response::begin_stream(int status, std::string_view content_type) {
  if (state_ != State::none) co_return fail(Errc::internal, "response already started");
  state_ = State::streaming;
  append_head(conn_->out_, status, true, content_type, 0);
  bool ok = co_await conn_->flush();
  if (!ok) co_return fail(Errc::cancelled, "client went away");
  co_return Result<void>{};
}

Task<Result<void>> Response::write(std::string_view data) {
  if (state_ != State::streaming) co_return fail(Errc::internal, "response is not streaming");
  if (data.empty()) co_return Result<void>{};
  char head[24];
  int n = std::snprintf(head, sizeof head, "%zx\r\n", data.size());
  iovec iov[3] = {{head, static_cast<size_t>(n)},
                  {const_cast<char*>(data.data()), data.size()},
                  {const_cast<char*>("\r\n"), 2}};
  int rc = co_await conn_->transport_.write_all_v(iov, conn_->server_->options().write_timeout);
  if (rc < 0) co_return fail(Errc::cancelled, "client went away");
  co_return Result<void>{};
}

Task<Result<void>> Response::end_stream() {
  if (state_ != State::streaming) co_return Result<void>{};
  state_ = State::done;
  int rc =
      co_await conn_->transport_.write_all("0\r\n\r\n", conn_->server_->options().write_timeout);
  if (rc < 0) co_return fail(Errc::cancelled, "client went away");
  co_return Result<void>{};
}

Task<Result<Response::Hijacked>> Response::hijack(std::string_view content_type) {
  if (state_ != State::none) co_return fail(Errc::internal, "response already started");
  state_ = State::hijacked;
  std::string& out = conn_->out_;
  if (conn_->wants_upgrade_) {
    out.append("HTTP/1.1 101 UPGRADED\r\n");
    out.append(conn_->server_->options().common_headers);
    out.append(extra_headers_);
    out.append("Content-Type: ").append(content_type).append("\r\n");
    out.append("Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
  } else {
    out.append("HTTP/1.1 200 OK\r\n");
    out.append(conn_->server_->options().common_headers);
    out.append(extra_headers_);
    out.append("Content-Type: ").append(content_type).append("\r\n\r\n");
  }
  bool ok = co_await conn_->flush();
  if (!ok) co_return fail(Errc::cancelled, "client went away");
  Hijacked h{&conn_->transport_, std::string(conn_->reader_.buffered())};
  co_return h;
}

// --- Connection ------------------------------------------------------------------

Task<bool> Connection::flush() {
  if (out_.empty()) co_return true;
  int rc = co_await transport_.write_all(out_, server_->opts_.write_timeout);
  out_.clear();
  co_return rc == 0;
}

Task<bool> Connection::send_continue_if_needed() {
  // Earlier pipelined answers go out before the body read may wait.
  if (!continue_pending_) co_return co_await flush();
  continue_pending_ = false;
  out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  co_return co_await flush();
}

void Connection::send_error(int status, std::string_view message) {
  append_status_line(out_, status);
  out_.append(server_->opts_.common_headers);
  std::string body = "{\"message\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') body.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) body.push_back(c);
  }
  body.append("\"}\n");
  out_.append("Content-Type: application/json\r\nContent-Length: ");
  str_append(out_, body.size());
  out_.append("\r\nConnection: close\r\n\r\n");
  out_.append(body);
}

static bool prepare_target(Request& req, std::string& path, std::string_view& raw_query,
                           std::vector<std::pair<std::string, std::string>>& query) {
  std::string_view target = req.target();
  std::string_view p = target;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    p = target.substr(0, q);
    raw_query = target.substr(q + 1);
    query = parse_query(raw_query);
  }
  // Absolute-form targets ("http://host/path") as proxies send them.
  if (p.starts_with("http://") || p.starts_with("https://")) {
    auto slash = p.find('/', p.find("://") + 3);
    p = slash == std::string_view::npos ? std::string_view("/") : p.substr(slash);
  }
  auto decoded = percent_decode(p, false);
  if (!decoded || decoded->empty() || (*decoded)[0] != '/') return false;
  path = std::move(*decoded);
  return true;
}

Task<void> Connection::run() {
  const ServerOptions& o = server_->opts_;
  for (;;) {
    idle_ = !reader_.has_buffered();
    if (idle_ && local_->draining) break;
    // Answers wait in out_ only while the next request is already here.
    if (!out_.empty() && !reader_.has_buffered_head()) {
      bool ok = co_await flush();
      if (!ok) break;
    }
    auto head = co_await reader_.read_head(o.idle_timeout, o.head_timeout);
    idle_ = false;
    if (!head) {
      const Error& e = head.error();
      if (e.code == Errc::cancelled) break;
      if (e.code == Errc::timeout) {
        if (reader_.head_bytes_seen() == 0) break;  // idle keep-alive: just close
        send_error(408, "timed out reading the request");
      } else if (e.code == Errc::too_large) {
        send_error(431, e.message);
      } else if (e.code == Errc::invalid_argument) {
        send_error(400, str_cat("malformed HTTP request: ", e.message));
      } else {
        break;
      }
      co_await flush();
      break;
    }
    Request req(this, &reader_);
    Response res(this);
    is_head_ = req.is_head();
    wants_upgrade_ = reader_.upgrade();
    keep_alive_ = reader_.keep_alive() && !local_->draining;
    continue_pending_ = reader_.expects_continue() && !reader_.body_complete();
    if (!prepare_target(req, req.path_, req.raw_query_, req.query_)) {
      send_error(400, "malformed request target");
      co_await flush();
      break;
    }
    co_await server_->handler_(req, res);
    if (res.state_ == Response::State::hijacked) break;
    if (res.state_ == Response::State::none) {
      log::error("handler for ", req.method(), " ", req.path(), " sent no response");
      res.send(500, "application/json", "{\"message\":\"internal error: no response\"}\n");
    }
    if (res.state_ == Response::State::streaming) co_await res.end_stream();
    if (res.close_) keep_alive_ = false;
    if (!reader_.body_complete()) {
      // The handler did not read the body. If the client still waits for
      // 100 Continue it will not send it: close. Else drain a little.
      bool drained = false;
      if (!continue_pending_) drained = co_await reader_.skip_body(1 << 20, o.body_timeout);
      if (!drained) keep_alive_ = false;
    }
    continue_pending_ = false;
    if (!keep_alive_ || !reader_.has_buffered() || out_.size() >= 64 * 1024) {
      bool ok = co_await flush();
      if (!ok) break;
    }
    if (!keep_alive_) break;
  }
  co_await flush();
}

// --- Server ------------------------------------------------------------------

Server::Server(ServerOptions opts, Handler handler, int n_reactors)
    : opts_(std::move(opts)), handler_(std::move(handler)) {
  for (int i = 0; i < n_reactors; ++i) locals_.push_back(std::make_unique<Local>());
}

Server::~Server() = default;

Server::Local& Server::local() {
  Reactor* r = Reactor::current();
  Local& l = *locals_.at(static_cast<size_t>(r->index()));
  l.reactor = r;
  return l;
}

void Server::attach_reactor() {
  Local& l = local();
  // Attach happens during reactor start-up, before any accept is armed.
  static std::mutex mu;
  std::lock_guard lock(mu);
  attached_.push_back(&l);
  attached_count_.store(static_cast<int>(attached_.size()), std::memory_order_release);
}

void Server::add_listener(int listen_fd) {
  Local& l = local();
  auto a = std::make_unique<AcceptOp>();
  a->complete = &Server::on_accept;
  a->server = this;
  a->local = &l;
  a->fd = listen_fd;
  a->active = true;
  arm_accept(a.get());
  l.accepts.push_back(std::move(a));
}

void Server::arm_accept(AcceptOp* a) {
  io_uring_sqe* s = a->local->reactor->get_sqe();
  io_uring_prep_multishot_accept(s, a->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data(s, static_cast<Op*>(a));
}

static Task<void> rearm_later(std::function<void()> rearm) {
  co_await io::sleep(100ms);
  rearm();
}

void Server::on_accept(Op* op, int res, uint32_t flags) {
  auto* a = static_cast<AcceptOp*>(op);
  Server* self = a->server;
  if (res >= 0) {
    if (a->local->draining) {
      ::close(res);
    } else {
      int one = 1;
      // Harmless ENOTSUP/EOPNOTSUPP on unix sockets.
      ::setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // Spread connections over the attached reactors; a connection then
      // stays on its reactor for life.
      int n = self->attached_count_.load(std::memory_order_acquire);
      Local* target = n > 0 ? self->attached_[self->next_++ % static_cast<unsigned>(n)] : a->local;
      if (target == a->local) {
        spawn(self->serve(res, target));
      } else {
        target->reactor->post([self, target, res] {
          if (target->draining)
            ::close(res);
          else
            spawn(self->serve(res, target));
        });
      }
    }
  } else if (res == -ECANCELED) {
    a->active = false;
    return;
  } else {
    log::warn("accept: ", std::strerror(-res));
  }
  if (!(flags & IORING_CQE_F_MORE) && a->active && !a->local->draining) {
    if (res < 0)
      spawn(rearm_later([self, a] {
        if (a->active && !a->local->draining) self->arm_accept(a);
      }));
    else
      self->arm_accept(a);
  }
}

Task<void> Server::serve(int fd, Local* local) {
  Connection conn(this, local, fd);
  local->conns.insert(&conn);
  open_.fetch_add(1, std::memory_order_relaxed);
  co_await conn.run();
  local->conns.erase(&conn);
  open_.fetch_sub(1, std::memory_order_relaxed);
  if (local->draining) maybe_report(*local);
}

void Server::shutdown(Duration grace, std::function<void()> done) {
  if (stopping_.exchange(true)) return;
  done_ = std::move(done);
  std::vector<Local*> active;
  for (auto& l : locals_)
    if (l->reactor) active.push_back(l.get());
  if (active.empty()) {
    if (done_) done_();
    return;
  }
  reactors_left_.store(static_cast<int>(active.size()));
  for (Local* l : active) l->reactor->post([this, l, grace] { drain_local(*l, grace); });
}

void Server::drain_local(Local& l, Duration grace) {
  l.draining = true;
  for (auto& a : l.accepts) {
    if (a->active) l.reactor->cancel(a.get());
    a->active = false;
  }
  for (Connection* c : l.conns)
    if (c->idle_) ::shutdown(c->transport_.fd(), SHUT_RD);
  l.grace.complete = &Server::on_grace;
  l.grace.local = &l;
  auto ns = grace.count();
  l.grace.ts.tv_sec = ns / 1000000000;
  l.grace.ts.tv_nsec = ns % 1000000000;
  io_uring_sqe* s = l.reactor->get_sqe();
  io_uring_prep_timeout(s, &l.grace.ts, 0, 0);
  io_uring_sqe_set_data(s, static_cast<Op*>(&l.grace));
  maybe_report(l);
}

void Server::on_grace(Op* op, int res, uint32_t) {
  if (res == -ECANCELED) return;
  Local* l = static_cast<GraceOp*>(op)->local;
  for (Connection* c : l->conns) ::shutdown(c->transport_.fd(), SHUT_RDWR);
}

void Server::maybe_report(Local& l) {
  if (!l.draining || !l.conns.empty() || l.reported) return;
  l.reported = true;
  l.reactor->cancel(&l.grace);
  if (reactors_left_.fetch_sub(1) == 1 && done_) done_();
}

}  // namespace berth::io::http
