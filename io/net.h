// Endpoints (unix:///path, tcp://host:port), listening sockets and connects.
// listen_endpoint() blocks briefly (bind/listen) and is meant for startup;
// connect() runs on the reactor. All fds are non-blocking and close-on-exec.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "io/reactor.h"
#include "io/task.h"

namespace berth::io {

struct Endpoint {
  enum class Kind { unix_socket, tcp } kind = Kind::unix_socket;
  std::string path;  // unix
  std::string host;  // tcp: numeric address or name
  uint16_t port = 0;
  std::string str() const;  // back to URL form
};

// Accepts unix:///path, unix:/path, /path (unix), tcp://host:port,
// tcp://[v6]:port, http://host:port (as tcp).
Result<Endpoint> parse_endpoint(std::string_view url);

struct ListenOptions {
  int backlog = 1024;
  unsigned unix_mode = 0660;
};
// Binds and listens. For unix sockets a stale socket file (nobody accepting)
// is replaced; a live one is refused ("already in use").
Result<unique_fd> listen_endpoint(const Endpoint& ep, const ListenOptions& opts = {});

// Resolves a tcp endpoint to a sockaddr (blocking getaddrinfo for names;
// numeric addresses resolve without blocking).
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};
Result<SockAddr> resolve(const Endpoint& ep);

// Connects on the current reactor.
Task<Result<unique_fd>> connect(Endpoint ep, std::optional<Duration> timeout);

// The reactor-free variant, for tools that run before any reactor exists.
Result<unique_fd> connect_blocking(const Endpoint& ep);

}  // namespace berth::io
