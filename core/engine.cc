#include "core/engine.h"

#include <filesystem>

#include "core/base/log.h"
#include "core/base/strings.h"

namespace berth::core {

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& opts) {
  std::unique_ptr<Engine> e(new Engine());
  e->root_ = opts.root;
  std::error_code ec;
  std::filesystem::create_directories(opts.root, ec);
  if (ec) return fail(Errc::io, str_cat("create ", opts.root, ": ", ec.message()));
  e->db_ = BERTH_TRY(db::Database::open(opts.root + "/berth.db"));
  layers::image::ServiceOptions so;
  so.unpack_parallel = opts.unpack_parallel;
  e->images_ = BERTH_TRY(layers::image::ImageService::open(opts.root, *e->db_, so));
  BERTH_TRY(with_context(e->images_->recover(), "recover image store"));
  cgroup::ManagerOptions co;
  co.parent = opts.cgroup_parent;
  co.spares = opts.cgroup_spares;
  {
    // Spares are tagged by root, so a daemon finds its own after a crash
    // (FNV-1a of the root path).
    uint64_t h = 1469598103934665603ull;
    for (unsigned char ch : opts.root) h = (h ^ ch) * 1099511628211ull;
    co.spare_tag = to_hex(reinterpret_cast<const unsigned char*>(&h), 4);
  }
  auto cg = BERTH_TRY(with_context(cgroup::Manager::detect(co), "cgroups"));
  container::ManagerOptions mo;
  mo.cgroup_options = co;
  mo.root = opts.root;
  mo.default_log = {.max_size = 0, .max_files = 1};
  mo.netns_pool = opts.netns_pool;
  e->containers_ =
      BERTH_TRY(container::ContainerManager::open(mo, *e->db_, *e->images_, std::move(cg)));
  e->registries_ = std::make_unique<layers::registry::Registries>(opts.registry);
  e->max_downloads_ = std::max(1u, opts.max_downloads);
  e->max_uploads_ = std::max(1u, opts.max_uploads);
  return e;
}

bool Engine::image_in_use(const std::string& image_id) const {
  return containers_->image_in_use(image_id);
}

}  // namespace berth::core
