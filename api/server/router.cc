#include "api/server/router.h"

#include "api/server/errors.h"
#include "core/base/strings.h"

namespace berth::api {

int compare_versions(std::string_view a, std::string_view b) {
  auto pa = split(a, '.'), pb = split(b, '.');
  size_t n = std::max(pa.size(), pb.size());
  for (size_t i = 0; i < n; ++i) {
    long va = i < pa.size() ? parse_number<long>(pa[i]).value_or(0) : 0;
    long vb = i < pb.size() ? parse_number<long>(pb[i]).value_or(0) : 0;
    if (va != vb) return va < vb ? -1 : 1;
  }
  return 0;
}

static bool has_params(std::string_view pattern) {
  return pattern.find('{') != std::string_view::npos;
}

void Router::add(std::string_view method, std::string_view pattern, Handler h) {
  if (!has_params(pattern)) {
    exact_[str_cat(method, " ", pattern)] = std::move(h);
    exact_paths_[std::string(pattern)] = true;
    return;
  }
  Route r;
  r.method = std::string(method);
  r.pattern = std::string(pattern);
  for (std::string_view seg : split(pattern.substr(1), '/')) {
    if (seg.starts_with("{") && seg.ends_with("*}"))
      r.segments.push_back({Segment::Kind::greedy, std::string(seg.substr(1, seg.size() - 3))});
    else if (seg.starts_with("{") && seg.ends_with("}"))
      r.segments.push_back({Segment::Kind::param, std::string(seg.substr(1, seg.size() - 2))});
    else
      r.segments.push_back({Segment::Kind::literal, std::string(seg)});
  }
  r.handler = std::move(h);
  for (auto& existing : routes_) {
    if (existing.method == r.method && existing.pattern == r.pattern) {
      existing = std::move(r);
      return;
    }
  }
  routes_.push_back(std::move(r));
}

bool Router::match_segments(const std::vector<Segment>& pat, size_t pi,
                            const std::vector<std::string_view>& parts, size_t si,
                            std::vector<std::pair<std::string_view, std::string>>& params) {
  if (pi == pat.size()) return si == parts.size();
  if (si == parts.size()) return false;
  const Segment& s = pat[pi];
  switch (s.kind) {
    case Segment::Kind::literal:
      return parts[si] == s.text && match_segments(pat, pi + 1, parts, si + 1, params);
    case Segment::Kind::param:
      if (parts[si].empty()) return false;
      params.emplace_back(s.text, std::string(parts[si]));
      if (match_segments(pat, pi + 1, parts, si + 1, params)) return true;
      params.pop_back();
      return false;
    case Segment::Kind::greedy: {
      // Longest first: "/images/a/b/json" with {name*}/json -> name "a/b".
      size_t rest = pat.size() - pi - 1;
      if (parts.size() - si < rest + 1) return false;
      for (size_t end = parts.size() - rest; end > si; --end) {
        std::string value;
        for (size_t k = si; k < end; ++k) {
          if (k > si) value.push_back('/');
          value.append(parts[k]);
        }
        if (value.empty()) continue;
        params.emplace_back(s.text, std::move(value));
        if (match_segments(pat, pi + 1, parts, end, params)) return true;
        params.pop_back();
      }
      return false;
    }
  }
  return false;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match m;
  std::string key = str_cat(method, " ", path);
  if (auto it = exact_.find(key); it != exact_.end()) {
    m.handler = &it->second;
    m.path_known = true;
    return m;
  }
  if (method == "HEAD") {
    if (auto it = exact_.find(str_cat("GET ", path)); it != exact_.end()) {
      m.handler = &it->second;
      m.path_known = true;
      return m;
    }
  }
  if (exact_paths_.count(std::string(path))) m.path_known = true;
  std::string_view trimmed = path.substr(1);
  if (trimmed.ends_with('/')) trimmed.remove_suffix(1);
  auto parts = split(trimmed, '/');
  for (const auto& r : routes_) {
    std::vector<std::pair<std::string_view, std::string>> params;
    if (!match_segments(r.segments, 0, parts, 0, params)) continue;
    m.path_known = true;
    if (r.method != method && !(method == "HEAD" && r.method == "GET")) continue;
    m.handler = &r.handler;
    m.params = std::move(params);
    return m;
  }
  return m;
}

io::Task<void> Router::dispatch(Request& req, Response& res) const {
  std::string_view path = req.path();
  std::string version(kApiVersion);
  if (path.size() > 2 && path[1] == 'v' && path[2] >= '0' && path[2] <= '9') {
    size_t end = path.find('/', 1);
    std::string_view v = path.substr(2, end == std::string_view::npos ? path.npos : end - 2);
    bool numeric = v.find_first_not_of("0123456789.") == std::string_view::npos;
    if (numeric) {
      if (compare_versions(v, kMinApiVersion) < 0) {
        send_error(res, 400,
                   str_cat("client version ", v, " is too old. Minimum supported API version is ",
                           kMinApiVersion, ", please upgrade your client to a newer version"));
        co_return;
      }
      if (compare_versions(v, kApiVersion) > 0) {
        send_error(res, 400,
                   str_cat("client version ", v, " is too new. Maximum supported API version is ",
                           kApiVersion));
        co_return;
      }
      version = std::string(v);
      path = end == std::string_view::npos ? std::string_view("/") : path.substr(end);
    }
  }
  Match m = match(req.method(), path);
  if (!m.handler) {
    if (m.path_known)
      send_error(res, 405, "method not allowed");
    else
      send_error(res, 404, "page not found");
    co_return;
  }
  req.set_params(std::move(m.params));
  req.set_api_version(std::move(version));
  co_await (*m.handler)(req, res);
}

}  // namespace berth::api
