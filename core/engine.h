// Engine: the daemon's state — the state database and the services built on
// it (images now; containers, volumes and networks as they come). The API
// layer reaches everything through it.
//
// open() blocks (creates directories, opens the database, recovers from a
// crash). Services are thread-safe; their calls block (run them from the
// blocking pool).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/base/db.h"
#include "core/base/error.h"
#include "core/container/manager.h"
#include "layers/image/service.h"
#include "layers/registry/client.h"

namespace berth::core {

struct EngineOptions {
  std::string root;
  unsigned unpack_parallel = 0;
  std::string cgroup_parent;  // --cgroup-parent; "" = berth below the daemon's own
  layers::registry::RegistryOptions registry;
  unsigned max_downloads = 3;  // layers pulled at once (docker's default)
  unsigned max_uploads = 5;    // layers pushed at once (docker's default)
  int netns_pool = 4;          // --netns-pool: network namespaces kept ready
  int cgroup_spares = 4;       // --cgroup-spares: v1 cgroups made ahead
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> open(const EngineOptions& opts);

  const std::string& root() const { return root_; }
  db::Database& db() { return *db_; }
  layers::image::ImageService& images() { return *images_; }
  container::ContainerManager& containers() { return *containers_; }
  layers::registry::Registries& registries() { return *registries_; }
  unsigned max_downloads() const { return max_downloads_; }
  unsigned max_uploads() const { return max_uploads_; }

  // The daemon is shutting down: long streams (logs -f) end instead of
  // holding the shutdown for its grace period. Thread-safe.
  void begin_shutdown() { shutting_down_.store(true, std::memory_order_relaxed); }
  bool shutting_down() const { return shutting_down_.load(std::memory_order_relaxed); }

  // Whether a container uses the image (refuses plain rmi).
  bool image_in_use(const std::string& image_id) const;

 private:
  Engine() = default;
  std::string root_;
  std::unique_ptr<db::Database> db_;
  std::unique_ptr<layers::image::ImageService> images_;
  std::unique_ptr<container::ContainerManager> containers_;
  std::unique_ptr<layers::registry::Registries> registries_;
  unsigned max_downloads_ = 3, max_uploads_ = 5;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace berth::core
