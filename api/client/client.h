// Client: the typed Docker Engine API client the berth CLI uses, over the
// same HTTP/1.1 code as the server. One keep-alive connection, reopened when
// the server closes it. Non-2xx answers become Errors carrying the daemon's
// message and the Errc of the status.
//
// Runs on the calling thread's reactor; not thread-safe.
#pragma once

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

  io::Task<Result<VersionInfo>> version();
  // /info as raw JSON (the CLI formats it).
  io::Task<Result<std::string>> info();

  const io::Endpoint& endpoint() const { return ep_; }
  // The connection for streaming calls (attach, logs, events); opened on
  // demand. The caller sends and reads, then releases it.
  io::Task<Result<io::http::ClientConnection*>> connection();
  void drop_connection() { conn_.reset(); }

 private:
  io::Endpoint ep_;
  std::unique_ptr<io::http::ClientConnection> conn_;
};

// The error for a failed connect: "Cannot connect to the berth daemon at ...".
Error daemon_unreachable(const io::Endpoint& ep, const Error& cause);
// The Error for a non-2xx response (message from its JSON body).
Error error_from_response(const RawResponse& r);

}  // namespace berth::api::client
