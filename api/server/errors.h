// Error responses in docker's shape: {"message": "..."} with the status
// docker gives for that kind of error. Only api/ maps Errc to HTTP.
#pragma once

#include <string_view>

#include "core/base/error.h"
#include "io/http/server.h"

namespace berth::api {

int http_status(Errc code);
void send_error(io::http::Response& res, int status, std::string_view message);
void send_error(io::http::Response& res, const Error& e);
// 200 with a JSON body (a trailing newline, as Go's encoder writes).
void send_json(io::http::Response& res, int status, std::string body);

}  // namespace berth::api
