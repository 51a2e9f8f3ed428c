#include "api/server/routes.h"

#include "api/server/errors.h"
#include "core/base/strings.h"

namespace berth::api {

namespace {

struct Endpoint {
  const char* method;
  const char* pattern;
};

// Generated from ../shared/reference/docker-engine-api-v1.44.yaml (paths).
// Names that may contain '/' use {name*} as docker's router does ({name:.*}).
constexpr Endpoint kEndpoints[] = {
    {"GET", "/containers/json"},
    {"POST", "/containers/create"},
    {"GET", "/containers/{id}/json"},
    {"GET", "/containers/{id}/top"},
    {"GET", "/containers/{id}/logs"},
    {"GET", "/containers/{id}/changes"},
    {"GET", "/containers/{id}/export"},
    {"GET", "/containers/{id}/stats"},
    {"POST", "/containers/{id}/resize"},
    {"POST", "/containers/{id}/start"},
    {"POST", "/containers/{id}/stop"},
    {"POST", "/containers/{id}/restart"},
    {"POST", "/containers/{id}/kill"},
    {"POST", "/containers/{id}/update"},
    {"POST", "/containers/{id}/rename"},
    {"POST", "/containers/{id}/pause"},
    {"POST", "/containers/{id}/unpause"},
    {"POST", "/containers/{id}/attach"},
    {"GET", "/containers/{id}/attach/ws"},
    {"POST", "/containers/{id}/wait"},
    {"DELETE", "/containers/{id}"},
    {"HEAD", "/containers/{id}/archive"},
    {"GET", "/containers/{id}/archive"},
    {"PUT", "/containers/{id}/archive"},
    {"POST", "/containers/prune"},
    {"GET", "/images/json"},
    {"POST", "/build"},
    {"POST", "/build/prune"},
    {"POST", "/images/create"},
    {"GET", "/images/{name*}/json"},
    {"GET", "/images/{name*}/history"},
    {"POST", "/images/{name*}/push"},
    {"POST", "/images/{name*}/tag"},
    {"DELETE", "/images/{name*}"},
    {"GET", "/images/search"},
    {"POST", "/images/prune"},
    {"POST", "/auth"},
    {"GET", "/info"},
    {"GET", "/version"},
    {"GET", "/_ping"},
    {"HEAD", "/_ping"},
    {"POST", "/commit"},
    {"GET", "/events"},
    {"GET", "/system/df"},
    {"GET", "/images/{name*}/get"},
    {"GET", "/images/get"},
    {"POST", "/images/load"},
    {"POST", "/containers/{id}/exec"},
    {"POST", "/exec/{id}/start"},
    {"POST", "/exec/{id}/resize"},
    {"GET", "/exec/{id}/json"},
    {"GET", "/volumes"},
    {"POST", "/volumes/create"},
    {"GET", "/volumes/{name*}"},
    {"PUT", "/volumes/{name*}"},
    {"DELETE", "/volumes/{name*}"},
    {"POST", "/volumes/prune"},
    {"GET", "/networks"},
    {"GET", "/networks/{id*}"},
    {"DELETE", "/networks/{id*}"},
    {"POST", "/networks/create"},
    {"POST", "/networks/{id*}/connect"},
    {"POST", "/networks/{id*}/disconnect"},
    {"POST", "/networks/prune"},
    {"GET", "/plugins"},
    {"GET", "/plugins/privileges"},
    {"POST", "/plugins/pull"},
    {"GET", "/plugins/{name*}/json"},
    {"DELETE", "/plugins/{name*}"},
    {"POST", "/plugins/{name*}/enable"},
    {"POST", "/plugins/{name*}/disable"},
    {"POST", "/plugins/{name*}/upgrade"},
    {"POST", "/plugins/create"},
    {"POST", "/plugins/{name*}/push"},
    {"POST", "/plugins/{name*}/set"},
    {"GET", "/nodes"},
    {"GET", "/nodes/{id}"},
    {"DELETE", "/nodes/{id}"},
    {"POST", "/nodes/{id}/update"},
    {"GET", "/swarm"},
    {"POST", "/swarm/init"},
    {"POST", "/swarm/join"},
    {"POST", "/swarm/leave"},
    {"POST", "/swarm/update"},
    {"GET", "/swarm/unlockkey"},
    {"POST", "/swarm/unlock"},
    {"GET", "/services"},
    {"POST", "/services/create"},
    {"GET", "/services/{id}"},
    {"DELETE", "/services/{id}"},
    {"POST", "/services/{id}/update"},
    {"GET", "/services/{id}/logs"},
    {"GET", "/tasks"},
    {"GET", "/tasks/{id}"},
    {"GET", "/tasks/{id}/logs"},
    {"GET", "/secrets"},
    {"POST", "/secrets/create"},
    {"GET", "/secrets/{id}"},
    {"DELETE", "/secrets/{id}"},
    {"POST", "/secrets/{id}/update"},
    {"GET", "/configs"},
    {"POST", "/configs/create"},
    {"GET", "/configs/{id}"},
    {"DELETE", "/configs/{id}"},
    {"POST", "/configs/{id}/update"},
    {"GET", "/distribution/{name*}/json"},
    {"POST", "/session"},
};

io::Task<void> not_implemented(Request& req, Response& res, std::string what) {
  send_error(res, 501, str_cat(what, " is not implemented in berth yet"));
  co_return;
}

}  // namespace

void add_unimplemented_routes(Router& r) {
  for (const auto& e : kEndpoints) {
    std::string what = str_cat(e.method, " ", e.pattern);
    r.add(e.method, e.pattern,
          [what](Request& req, Response& res) { return not_implemented(req, res, what); });
  }
}

}  // namespace berth::api
