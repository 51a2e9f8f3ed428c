#include "core/container/snapshot_ops.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <thread>

#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "core/container/config.h"

namespace berth::core::container {

Result<void> export_rootfs(const Container& c, const layers::snapshot::TarOutput& out) {
  Result<void> result = fail(Errc::internal, "export did not run");
  std::string lower = c.dir + "/upper";
  for (const auto& l : c.layer_dirs) lower += ":" + l;
  // A thread of its own: its mount namespace dies with it.
  std::thread t([&] {
    auto run = [&]() -> Result<void> {
      if (::unshare(CLONE_NEWNS) != 0) return sys_fail(errno, "unshare mount namespace");
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return sys_fail(errno, "make mounts private");
      std::string tmpl = c.dir + "/export-XXXXXX";
      if (!::mkdtemp(tmpl.data())) return sys_fail(errno, "create export mount point");
      std::string opts = "lowerdir=" + lower;
      auto r = [&]() -> Result<void> {
        if (::mount("overlay", tmpl.c_str(), "overlay", MS_RDONLY, opts.c_str()) != 0)
          return sys_fail(errno, "mount the container's layers");
        auto w = layers::snapshot::write_tree(tmpl, out, {.overlay_whiteouts = false});
        ::umount2(tmpl.c_str(), MNT_DETACH);
        return w;
      }();
      ::rmdir(tmpl.c_str());
      return r;
    };
    result = run();
  });
  t.join();
  return result;
}

Result<std::string> commit_container(const std::shared_ptr<Container>& c,
                                     layers::image::ImageService& images, const CommitRequest& req) {
  Config cfg;
  std::string image_id;
  cgroup::Cgroup* cg = nullptr;
  bool running;
  {
    std::lock_guard lock(c->mu);
    cfg = c->config;
    image_id = c->image_id;
    running = c->state.status == Status::running;
    if (running && req.pause) cg = c->rt.cgroup.get();
  }
  if (!req.config_json.empty()) {
    auto override_cfg = BERTH_TRY(parse_create(req.config_json));
    const Config& o = override_cfg.config;
    if (o.cmd) cfg.cmd = o.cmd;
    if (o.entrypoint) cfg.entrypoint = o.entrypoint;
    if (!o.env.empty()) cfg.env = o.env;
    if (!o.working_dir.empty()) cfg.working_dir = o.working_dir;
    if (!o.user.empty()) cfg.user = o.user;
    for (const auto& [k, v] : o.labels) cfg.labels[k] = v;
    for (const auto& p : o.exposed_ports) cfg.exposed_ports.push_back(p);
  }
  std::string container_config;
  {
    json::Writer w(container_config);
    write_config(w, cfg);
  }
  std::string run_config = BERTH_TRY(layers::image::apply_changes(container_config, req.changes));
  layers::image::CommitOptions opts;
  opts.tag = req.tag;
  opts.comment = req.comment;
  opts.author = req.author;
  opts.run_config_json = run_config;
  opts.container_id = c->id;
  opts.container_config_json = container_config;
  std::string cmd = c->path;
  for (const auto& a : c->args) cmd += " " + a;
  opts.created_by = cmd;
  if (cg) BERTH_TRY(with_context(cg->freeze(), "pause for commit"));
  std::string upper = c->dir + "/upper";
  auto r = images.commit(
      image_id,
      [&](const layers::image::ByteOutput& out) { return layers::snapshot::write_diff(upper, out); },
      opts);
  if (cg) (void)cg->thaw();
  return r;
}

}  // namespace berth::core::container
