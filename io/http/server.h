// HTTP/1.1 server on the reactors: keep-alive, pipelining, chunked bodies
// both ways, Expect: 100-continue, streaming responses and connection
// takeover (upgrade/hijack), with limits and deadlines on every read.
//
// A connection lives on the reactor that accepted it. The handler is a
// coroutine called with a Request and a Response that are valid until it
// returns; it either sends one buffered response, streams one, or takes the
// connection over.
//
// Thread-safety: add_listener() and the handlers run on reactor threads;
// shutdown() may be called from any thread. The Server must outlive the
// reactors it runs on.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/base/error.h"
#include "io/http/message.h"
#include "io/http/reader.h"
#include "io/http/transport.h"
#include "io/reactor.h"
#include "io/task.h"

namespace berth::io::http {

using namespace std::chrono_literals;

struct ServerOptions {
  size_t max_head_bytes = 64 * 1024;
  Duration idle_timeout = 300s;  // keep-alive wait for the next request
  Duration head_timeout = 30s;   // first byte to end of head
  Duration body_timeout = 60s;   // each body read
  Duration write_timeout = 60s;  // each write
  // Appended verbatim to every response head ("Name: value\r\n" lines).
  std::string common_headers;
};

class Connection;

class Request {
 public:
  std::string_view method() const { return reader_->method(); }
  bool is_head() const { return method() == "HEAD"; }
  std::string_view target() const { return reader_->url(); }
  // The decoded path (no query); set once per request.
  std::string_view path() const { return path_; }
  std::string_view raw_query() const { return raw_query_; }
  // The first value of a query parameter, decoded.
  std::optional<std::string_view> query(std::string_view name) const;
  // All values of a repeated parameter.
  std::vector<std::string_view> query_all(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& query_params() const { return query_; }
  std::optional<std::string_view> header(std::string_view name) const {
    return reader_->header(name);
  }
  const std::vector<HeaderView>& headers() const { return reader_->headers(); }
  int64_t content_length() const { return reader_->content_length(); }
  bool has_body() const { return reader_->content_length() > 0 || reader_->chunked(); }

  // Path parameters, filled by the router.
  std::optional<std::string_view> param(std::string_view name) const;
  void set_params(std::vector<std::pair<std::string_view, std::string>> p) {
    params_ = std::move(p);
  }
  // API version the client asked for ("1.44"), filled by the router.
  std::string_view api_version() const { return api_version_; }
  void set_api_version(std::string v) { api_version_ = std::move(v); }

  // The next body chunk (empty at the end), valid until the next call.
  Task<Result<std::string_view>> read_body();
  // The whole body; Errc::too_large beyond limit.
  Task<Result<std::string>> read_all(size_t limit);

 private:
  friend class Connection;
  Request(Connection* c, MessageReader* r) : conn_(c), reader_(r) {}
  Connection* conn_;
  MessageReader* reader_;
  std::string path_;
  std::string_view raw_query_;
  std::vector<std::pair<std::string, std::string>> query_;
  std::vector<std::pair<std::string_view, std::string>> params_;
  std::string api_version_;
};

class Response {
 public:
  // Extra header for whatever is sent next (before send/begin_stream/hijack).
  void add_header(std::string_view name, std::string_view value);
  // A complete, buffered response.
  void send(int status, std::string_view content_type, std::string_view body);
  void send_empty(int status);  // e.g. 204, 304

  // A streamed response (Transfer-Encoding: chunked); each write goes out
  // at once. end_stream() writes the last chunk.
  Task<Result<void>> begin_stream(int status, std::string_view content_type);
  Task<Result<void>> write(std::string_view data);
  Task<Result<void>> end_stream();

  // Takes the connection over for a raw byte stream (docker attach/exec).
  // Answers 101 UPGRADED when the client asked to upgrade, else 200 with no
  // length. The transport stays owned by the server and closes when the
  // handler returns; leftover holds bytes the client sent after the request.
  struct Hijacked {
    Transport* transport;
    std::string leftover;
  };
  Task<Result<Hijacked>> hijack(std::string_view content_type);

  bool started() const { return state_ != State::none; }
  bool streaming() const { return state_ == State::streaming; }
  // True once the server is shutting down: long streams should end.
  bool server_stopping() const;
  // True when the client has closed the connection (or it failed): a long
  // wait with nothing to read from the client may give up. Peeks without
  // consuming; a client that only half-closed (stdin EOF) also reads as gone.
  bool peer_gone() const;
  // The connection will close after this response.
  void close_after() { close_ = true; }
  // Ends a streamed response without its last chunk and closes the
  // connection, so the client sees the transfer fail (an error mid-stream).
  void abort_stream() {
    if (state_ == State::streaming) state_ = State::done;
    close_ = true;
  }

 private:
  friend class Connection;
  explicit Response(Connection* c) : conn_(c) {}
  void append_head(std::string& out, int status, bool chunked, std::string_view content_type,
                   size_t length);
  enum class State { none, buffered, streaming, done, hijacked };
  Connection* conn_;
  State state_ = State::none;
  std::string extra_headers_;
  bool close_ = false;
};

using Handler = std::function<Task<void>(Request&, Response&)>;

class Server {
 public:
  // n_reactors: how many reactors (indices 0..n-1) this server may run on.
  Server(ServerOptions opts, Handler handler, int n_reactors);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Makes the calling reactor serve connections of this server. Call once on
  // every reactor thread that should take a share of the connections.
  void attach_reactor();
  // Starts a multishot accept for listen_fd on the calling (attached)
  // reactor, which hands each new connection to the attached reactors in
  // turn. The fd must stay open while the server runs.
  void add_listener(int listen_fd);

  // Graceful stop, from any thread: stop accepting, close idle keep-alive
  // connections, let requests in flight finish; after grace, cut whatever
  // is left. done() runs (on some reactor thread) once no connection is open.
  void shutdown(Duration grace, std::function<void()> done);
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }

  // Connections open now, over all reactors (approximate while changing).
  size_t open_connections() const { return open_.load(std::memory_order_relaxed); }

  const ServerOptions& options() const { return opts_; }

 private:
  friend class Connection;
  struct Local;
  struct AcceptOp : Op {
    Server* server;
    Local* local;
    int fd;
    bool active;
  };
  struct GraceOp : Op {
    Local* local;
    __kernel_timespec ts;
  };
  struct Local {
    Reactor* reactor = nullptr;
    std::vector<std::unique_ptr<AcceptOp>> accepts;
    std::unordered_set<Connection*> conns;
    bool draining = false;
    bool reported = false;
    GraceOp grace{};
  };
  static void on_accept(Op* op, int res, uint32_t flags);
  static void on_grace(Op* op, int res, uint32_t flags);
  void arm_accept(AcceptOp* a);
  Local& local();
  void drain_local(Local& l, Duration grace);
  void maybe_report(Local& l);
  Task<void> serve(int fd, Local* local);

  ServerOptions opts_;
  Handler handler_;
  std::vector<std::unique_ptr<Local>> locals_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> open_{0};
  std::atomic<int> reactors_left_{0};
  std::vector<Local*> attached_;  // fixed once serving starts
  std::atomic<int> attached_count_{0};
  unsigned next_ = 0;  // round-robin cursor (acceptor thread only)
  std::function<void()> done_;
};

}  // namespace berth::io::http
