#include "io/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "core/base/strings.h"

namespace berth::io {

std::string Endpoint::str() const {
  if (kind == Kind::unix_socket) return "unix://" + path;
  if (host.find(':') != std::string::npos) return str_cat("tcp://[", host, "]:", port);
  return str_cat("tcp://", host, ":", port);
}

Result<Endpoint> parse_endpoint(std::string_view url) {
  Endpoint ep;
  auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument, str_cat("invalid address \"", url, "\": ", why));
  };
  if (url.starts_with("unix://")) {
    ep.path = std::string(url.substr(7));
  } else if (url.starts_with("unix:")) {
    ep.path = std::string(url.substr(5));
  } else if (url.starts_with("/")) {
    ep.path = std::string(url);
  } else if (url.starts_with("tcp://") || url.starts_with("http://")) {
    ep.kind = Endpoint::Kind::tcp;
    std::string_view rest = url.substr(url.find("://") + 3);
    if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
    std::string_view port;
    if (rest.starts_with("[")) {
      auto close = rest.find(']');
      if (close == std::string_view::npos) return bad("unterminated [");
      ep.host = std::string(rest.substr(1, close - 1));
      rest = rest.substr(close + 1);
      if (!rest.starts_with(":")) return bad("missing port");
      port = rest.substr(1);
    } else {
      auto colon = rest.rfind(':');
      if (colon == std::string_view::npos) return bad("missing port");
      ep.host = std::string(rest.substr(0, colon));
      port = rest.substr(colon + 1);
    }
    if (ep.host.empty()) ep.host = "127.0.0.1";
    auto p = parse_number<uint16_t>(port);
    if (!p || *p == 0) return bad("port must be 1-65535");
    ep.port = *p;
    return ep;
  } else {
    return bad("expected unix:///path or tcp://host:port");
  }
  if (ep.path.empty() || ep.path[0] != '/') return bad("unix socket path must be absolute");
  if (ep.path.size() >= sizeof(sockaddr_un::sun_path)) return bad("unix socket path too long");
  return ep;
}

static Result<SockAddr> unix_addr(const std::string& path) {
  SockAddr a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
  un->sun_family = AF_UNIX;
  if (path.size() >= sizeof un->sun_path)
    return fail(Errc::invalid_argument, "unix socket path too long: " + path);
  std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
  a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

Result<SockAddr> resolve(const Endpoint& ep) {
  if (ep.kind == Endpoint::Kind::unix_socket) return unix_addr(ep.path);
  SockAddr a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, ep.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(ep.port);
    a.len = sizeof(sockaddr_in);
    return a;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET6, ep.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(ep.port);
    a.len = sizeof(sockaddr_in6);
    return a;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(ep.host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return fail(Errc::unavailable, str_cat("lookup ", ep.host, ": ", gai_strerror(rc)));
  std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  if (res->ai_family == AF_INET)
    v4->sin_port = htons(ep.port);
  else
    v6->sin6_port = htons(ep.port);
  freeaddrinfo(res);
  return a;
}

Result<unique_fd> listen_endpoint(const Endpoint& ep, const ListenOptions& opts) {
  SockAddr addr = BERTH_TRY(resolve(ep));
  int family = addr.storage.ss_family;
  unique_fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_fail(errno, "socket");
  if (family == AF_UNIX) {
    struct stat st;
    if (::lstat(ep.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return fail(Errc::conflict, str_cat(ep.path, " exists and is not a socket"));
      // A live daemon accepts; a stale file from a crashed one refuses.
      unique_fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (probe && ::connect(probe.get(), addr.get(), addr.len) == 0)
        return fail(Errc::conflict,
                    str_cat(ep.path, " is already in use by another running daemon"));
      if (::unlink(ep.path.c_str()) != 0 && errno != ENOENT)
        return sys_fail(errno, str_cat("remove stale socket ", ep.path));
    }
    // Create with the final mode: no window where the socket is wider open.
    mode_t old = ::umask(0777 & ~opts.unix_mode);
    int rc = ::bind(fd.get(), addr.get(), addr.len);
    int e = errno;
    ::umask(old);
    if (rc != 0) return sys_fail(e, str_cat("bind ", ep.path));
    if (::chmod(ep.path.c_str(), opts.unix_mode) != 0) return sys_fail(errno, "chmod socket");
  } else {
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), addr.get(), addr.len) != 0) return sys_fail(errno, "bind " + ep.str());
  }
  if (::listen(fd.get(), opts.backlog) != 0) return sys_fail(errno, "listen " + ep.str());
  return fd;
}

Task<Result<unique_fd>> connect(Endpoint ep, std::optional<Duration> timeout) {
  auto addr = resolve(ep);
  if (!addr) co_return std::unexpected(addr.error());
  unique_fd fd(::socket(addr->storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) co_return sys_fail(errno, "socket");
  int rc = co_await io::connect(fd.get(), addr->get(), addr->len, timeout);
  if (rc == -ECANCELED) co_return fail(Errc::timeout, "connect " + ep.str() + ": timed out");
  if (rc < 0) co_return sys_fail(-rc, "connect " + ep.str());
  if (addr->storage.ss_family != AF_UNIX) {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  co_return fd;
}

Result<unique_fd> connect_blocking(const Endpoint& ep) {
  SockAddr addr = BERTH_TRY(resolve(ep));
  unique_fd fd(::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sys_fail(errno, "socket");
  if (::connect(fd.get(), addr.get(), addr.len) != 0) return sys_fail(errno, "connect " + ep.str());
  return fd;
}

}  // namespace berth::io
