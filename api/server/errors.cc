#include "api/server/errors.h"

#include "api/json/writer.h"

namespace berth::api {

int http_status(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return 400;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::forbidden: return 403;
    case Errc::unauthorized: return 401;
    case Errc::not_modified: return 304;
    case Errc::too_large: return 413;
    case Errc::not_implemented: return 501;
    case Errc::unavailable: return 503;
    case Errc::timeout: return 504;
    case Errc::cancelled: return 500;
    case Errc::corrupt: return 500;
    case Errc::io: return 500;
    case Errc::internal: return 500;
  }
  return 500;
}

void send_error(io::http::Response& res, int status, std::string_view message) {
  std::string body;
  json::Writer w(body);
  w.begin_object().kv("message", message).end_object();
  body.push_back('\n');
  res.send(status, "application/json", body);
}

void send_error(io::http::Response& res, const Error& e) {
  send_error(res, http_status(e.code), e.message);
}

void send_json(io::http::Response& res, int status, std::string body) {
  body.push_back('\n');
  res.send(status, "application/json", body);
}

}  // namespace berth::api
