// Client: the typed Docker Engine API client the berth CLI uses, over the
// same HTTP/1.1 code as the server. One keep-alive connection, reopened when
// the server closes it. Non-2xx answers become Errors carrying the daemon's
// message and the Errc of the status.
//
// Big bodies stream: upload() sends a request body read from a file
// descriptor and download() writes a response body to one, each through a
// fixed buffer, so archives of any size pass with little memory.
//
// Runs on the calling thread's reactor; not thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "io/http/client.h"
#include "io/net.h"

namespace berth::api::client {

struct RawResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

struct VersionInfo {
  std::string version, api_version, min_api_version, git_commit, go_version, os, arch;
  std::string kernel_version, build_time, platform;
};

class Client {
 public:
  explicit Client(io::Endpoint ep) : ep_(std::move(ep)) {}

  // A whole request and response; errors for transport failures only.
  io::Task<Result<RawResponse>> request(std::string method, std::string target,
                                        std::string body = {}, io::http::Headers headers = {});
  // As request(), but a non-2xx status becomes an Error.
  io::Task<Result<RawResponse>> call(std::string method, std::string target, std::string body = {},
                                     io::http::Headers headers = {});

  // Sends a request whose body is read from body_fd until EOF (through the
  // reactor, so files, pipes and terminals all work) as a chunked body, and
  // returns the whole response (errors for transport failures only). When the
  // daemon answers early and stops reading, its answer is returned. body_fd
  // is not owned. Always uses a fresh connection: the body cannot be resent.
  io::Task<Result<RawResponse>> upload(std::string method, std::string target, int body_fd,
                                       io::http::Headers headers = {});
  // Sends a bodiless request and writes a 2xx response body, as it arrives,
  // to the fd that open_output returns (not owned; called once, after a 2xx
  // head, so an output is only created for a good answer). Returns the bytes
  // written. A non-2xx answer becomes an Error and open_output is not called.
  io::Task<Result<uint64_t>> download(std::string method, std::string target,
                                      std::function<Result<int>()> open_output);

  // A connection of its own for one long call (attach, wait, logs -f):
  // sends the request and reads the response head, leaving the body (or, after
  // a 101, the raw stream: Transport plus leftover()) to the caller, who owns
  // the connection. A non-2xx answer (other than 101) becomes an Error
  // carrying the daemon's message; a failed connect, daemon_unreachable().
  io::Task<Result<std::unique_ptr<io::http::ClientConnection>>> open_stream(
      std::string method, std::string target, std::string body = {},
      io::http::Headers headers = {});
  // open_stream() asking to take the connection over, as docker's attach and
  // exec start do ("Connection: Upgrade", "Upgrade: tcp"); the daemon answers
  // 101 (or 200, as older daemons did) and then streams raw both ways.
  io::Task<Result<std::unique_ptr<io::http::ClientConnection>>> hijack(std::string method,
                                                                       std::string target,
                                                                       std::string body = {});

  io::Task<Result<VersionInfo>> version();
  // /info as raw JSON (the CLI formats it).
  io::Task<Result<std::string>> info();

  const io::Endpoint& endpoint() const { return ep_; }
  // The connection for streaming calls (attach, logs, events); opened on
  // demand. The caller sends and reads, then releases it.
  io::Task<Result<io::http::ClientConnection*>> connection();
  void drop_connection() { conn_.reset(); }

 private:
  // Sends req and reads the response head; the body is left to the caller.
  io::Task<Result<io::http::ClientConnection*>> exchange(io::http::ClientRequest req);

  io::Endpoint ep_;
  std::unique_ptr<io::http::ClientConnection> conn_;
};

// The error for a failed connect: "Cannot connect to the berth daemon at ...".
Error daemon_unreachable(const io::Endpoint& ep, const Error& cause);
// The Error for a non-2xx response (message from its JSON body).
Error error_from_response(const RawResponse& r);

}  // namespace berth::api::client
