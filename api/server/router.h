// Router: maps (method, path) to a handler, docker style.
//
// Paths may carry a version prefix /vX.Y (1.24 <= X.Y <= 1.44); other
// versions get docker's 400 message; unversioned paths use 1.44. Patterns
// have literal segments, {param} (one segment) and {param*} (one or more
// segments, for image and volume names that contain '/'). Exact paths are
// found by hash; patterns with parameters are tried in registration order.
// An unknown path answers 404 "page not found"; a known path with another
// method answers 405.
//
// Thread-safety: build the table before serving; dispatch() is then const
// and safe from every reactor.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/http/server.h"
#include "io/task.h"

namespace berth::api {

using io::http::Request;
using io::http::Response;
using Handler = std::function<io::Task<void>(Request&, Response&)>;

inline constexpr std::string_view kApiVersion = "1.44";
inline constexpr std::string_view kMinApiVersion = "1.24";

// Compares dotted versions numerically ("1.9" < "1.24"): <0, 0, >0.
int compare_versions(std::string_view a, std::string_view b);

class Router {
 public:
  // Replaces an existing route with the same method and pattern.
  void add(std::string_view method, std::string_view pattern, Handler h);

  struct Match {
    const Handler* handler = nullptr;
    std::vector<std::pair<std::string_view, std::string>> params;
    bool path_known = false;  // some method matches this path
  };
  Match match(std::string_view method, std::string_view path) const;

  // Strips and checks the version prefix, matches, runs the handler (or
  // answers 400/404/405 itself).
  io::Task<void> dispatch(Request& req, Response& res) const;

 private:
  struct Segment {
    enum class Kind { literal, param, greedy } kind;
    std::string text;  // literal text or parameter name
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    Handler handler;
  };
  static bool match_segments(const std::vector<Segment>& pat, size_t pi,
                             const std::vector<std::string_view>& parts, size_t si,
                             std::vector<std::pair<std::string_view, std::string>>& params);
  std::unordered_map<std::string, Handler> exact_;  // "GET /_ping"
  std::unordered_map<std::string, bool> exact_paths_;
  std::vector<Route> routes_;
};

}  // namespace berth::api
