// Registry endpoints (pull, push, auth, distribution) and the pieces of
// docker's JSON progress stream they write; the pull handler is reached
// through POST /images/create?fromImage= (api/server/images.cc).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "io/http/server.h"
#include "io/task.h"
#include "layers/registry/auth.h"
#include "layers/registry/progress.h"

namespace berth::core {
class Engine;
}

namespace berth::api {

io::Task<void> pull_image(io::http::Request& req, io::http::Response& res, core::Engine* e);

// One line of docker's JSON progress stream (jsonmessage), newline ended.
std::string progress_line(const layers::registry::ProgressEvent& e);
std::string error_line(std::string_view message);
// X-Registry-Auth: base64url JSON {"username","password",...}; absent or
// "{}" is no credentials.
Result<layers::registry::Credentials> credentials_from_header(
    std::optional<std::string_view> header);
// A login's serveraddress as a registry name (docker.io for Docker Hub's).
std::string registry_of_server_address(std::string_view s);

}  // namespace berth::api
