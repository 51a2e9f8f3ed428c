// The API surface: what the handlers need from the daemon, and the function
// that builds the complete route table. The daemon fills ApiContext once at
// startup; handlers read it from any reactor (read-only after start, except
// through the callbacks, which are thread-safe).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "api/server/router.h"
#include "core/sys/host.h"

namespace berth::core {
class Engine;
}

namespace berth::api {

struct ObjectCounts {
  int containers = 0, running = 0, paused = 0, stopped = 0, images = 0;
};

struct ApiContext {
  std::string root_dir;
  std::string daemon_id;
  std::string server_version;  // berth's version
  std::string git_commit;
  std::string build_time;
  std::string compiler;
  sys::HostInfo host;
  std::string storage_driver = "overlay2";
  std::string backing_fs;
  bool debug = false;
  std::chrono::system_clock::time_point started;
  // The engine; null only in tests of the HTTP surface alone.
  core::Engine* engine = nullptr;
  // Live counts; null means none exist yet (no engine wired in).
  std::function<ObjectCounts()> counts;
};

// "Api-Version: 1.44\r\n..." — headers docker puts on every response.
std::string common_headers(const ApiContext& ctx);

// Every v1.44 route: the built ones and 501 for the rest.
Router build_router(ApiContext& ctx);

// Registration per resource family.
void add_system_routes(Router& r, ApiContext& ctx);
void add_image_routes(Router& r, ApiContext& ctx);
void add_container_routes(Router& r, ApiContext& ctx);
void add_registry_routes(Router& r, ApiContext& ctx);

}  // namespace berth::api
