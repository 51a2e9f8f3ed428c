#include "core/cgroup/v2/manager.h"

#include <algorithm>
#include <mutex>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/cgroup/dir.h"
#include "core/cgroup/hierarchy.h"
#include "core/cgroup/v2/cgroup.h"

namespace berth::core::cgroup::v2 {

const std::vector<std::string>& wanted_controllers() {
  static const std::vector<std::string> names = {"cpu", "cpuset", "io", "memory", "pids"};
  return names;
}

std::optional<Unified> find_unified(std::string_view mountinfo, std::string_view proc_cgroup,
                                    std::string_view cgroup_root) {
  std::string root = join_cgroup_path(cgroup_root, "");
  std::optional<MountEntry> found;
  for (MountEntry& m : parse_mountinfo(mountinfo)) {
    if (m.fstype != "cgroup2") continue;
    std::string mp = join_cgroup_path(m.mount_point, "");
    if (mp == root) {
      found = std::move(m);
      break;
    }
    if (!found && (root == "/" || mp.starts_with(root + "/"))) found = std::move(m);
  }
  if (!found) return std::nullopt;
  Unified u{found->mount_point, "/"};
  for (const ProcCgroup& p : parse_proc_cgroup(proc_cgroup))
    if (p.controllers.empty()) u.own = path_below_mount_root(p.path, found->root);
  return u;
}

namespace {

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view w : split(trim(text), ' '))
    if (!w.empty()) out.emplace_back(w);
  return out;
}

bool has_word(const std::vector<std::string>& v, std::string_view w) {
  return std::find(v.begin(), v.end(), w) != v.end();
}

class V2Manager final : public Manager {
 public:
  V2Manager(Dir root, std::string own, std::string parent, size_t first_managed,
            ManagerOptions opts)
      : root_(std::move(root)),
        own_(std::move(own)),
        parent_(std::move(parent)),
        first_managed_(first_managed),
        opts_(std::move(opts)) {}

  Version version() const override { return Version::v2; }
  std::string parent_path() const override { return parent_; }

  Result<std::unique_ptr<Cgroup>> create(std::string_view name, const Resources& r) override;
  Result<std::unique_ptr<Cgroup>> open(std::string_view name) override;
  Result<std::vector<std::string>> list() override;
  Result<void> remove(std::string_view name) override;

 private:
  // Adds the wanted controllers the level offers but does not pass down.
  // holds_daemon: the level is the daemon's own cgroup.
  Result<void> enable_controllers(const Dir& level, bool holds_daemon);
  // Called with mu_ held.
  Result<Dir> make_parent();
  // The parent, made once and kept open (the start path pays nothing);
  // made again when `stale` is what is kept (it vanished).
  Result<std::shared_ptr<const Dir>> parent(const std::shared_ptr<const Dir>& stale);
  Result<Dir> open_parent() const { return root_.open(parent_); }

  Dir root_;
  std::string own_;       // the daemon's cgroup, from the hierarchy root
  std::string parent_;    // containers' parent, from the hierarchy root
  size_t first_managed_;  // components of parent_ above this are not ours to set up
  ManagerOptions opts_;
  std::mutex mu_;  // guards parent_dir_, serializes parent creation
  std::shared_ptr<const Dir> parent_dir_;
};

Result<void> V2Manager::enable_controllers(const Dir& level, bool holds_daemon) {
  std::vector<std::string> offered = words(BERTH_TRY(level.read("cgroup.controllers")));
  std::vector<std::string> enabled = words(BERTH_TRY(level.read("cgroup.subtree_control")));
  std::vector<std::string> missing;
  for (const std::string& c : wanted_controllers())
    if (has_word(offered, c) && !has_word(enabled, c)) missing.push_back(c);
  // One at a time: one refused (cpu with realtime tasks inside) must not
  // keep the others off.
  std::vector<Error> refused;
  auto try_enable = [&](const std::vector<std::string>& which) {
    refused.clear();
    std::vector<std::string> left;
    for (const std::string& c : which) {
      auto w = level.write("cgroup.subtree_control", str_cat("+", c));
      if (w) continue;
      left.push_back(c);
      refused.push_back(std::move(w.error()));
    }
    return left;
  };
  std::vector<std::string> left = try_enable(missing);
  auto busy = [&] {
    return std::any_of(refused.begin(), refused.end(),
                       [](const Error& e) { return e.sys_errno == EBUSY; });
  };
  if (busy() && holds_daemon && !opts_.self_leaf.empty()) {
    // No internal processes: the daemon leaves for a leaf of its own.
    bool created = false;
    Dir leaf = BERTH_TRY(level.make_or_open(opts_.self_leaf, &created));
    BERTH_TRY(leaf.write("cgroup.procs", "0"));
    log::info("cgroup: moved the daemon into ", leaf.path(), " to enable controllers in ",
              level.path());
    try_enable(left);
  }
  for (const Error& e : refused) {
    std::string why = e.sys_errno == EBUSY
                          ? " (the cgroup holds processes: run the daemon in a leaf cgroup, "
                            "set a self leaf, or give a cgroup parent where controllers can be "
                            "enabled)"
                          : "";
    log::warn("cgroup: cannot enable a controller for containers: ", e.message, why);
  }
  return {};
}

Result<std::shared_ptr<const Dir>> V2Manager::parent(const std::shared_ptr<const Dir>& stale) {
  std::lock_guard lock(mu_);
  if (!parent_dir_ || parent_dir_ == stale)
    parent_dir_ = std::make_shared<const Dir>(BERTH_TRY(make_parent()));
  return parent_dir_;
}

Result<Dir> V2Manager::make_parent() {
  std::vector<std::string> comps = path_components(parent_);
  Dir cur = BERTH_TRY(root_.open(""));
  for (size_t i = 0; i <= comps.size(); ++i) {
    std::string level = "/";
    for (size_t k = 0; k < i; ++k) level = join_cgroup_path(level, comps[k]);
    if (i >= first_managed_) BERTH_TRY(enable_controllers(cur, level == own_));
    if (i == comps.size()) break;
    bool created = false;
    Dir next = BERTH_TRY(cur.make_or_open(comps[i], &created));
    if (created) log::debug("cgroup: created ", next.path());
    cur = std::move(next);
  }
  return cur;
}

Result<std::unique_ptr<Cgroup>> V2Manager::create(std::string_view name, const Resources& r) {
  BERTH_TRY(check_cgroup_name(name));
  std::string context = str_cat("create cgroup ", name);
  auto parent = BERTH_TRY(with_context(this->parent(nullptr), context));
  auto d = parent->make(name);
  if (!d && d.error().sys_errno == ENOENT) {  // the parent went away: again
    parent = BERTH_TRY(with_context(this->parent(parent), context));
    d = parent->make(name);
  }
  if (!d) {
    Error e = std::move(d.error());
    if (e.sys_errno == EEXIST) e.message = str_cat("cgroup exists: ", parent->path(), "/", name);
    return std::unexpected(std::move(e).context(context));
  }
  auto cg = std::make_unique<V2Cgroup>(std::string(name), std::move(*d),
                                       join_cgroup_path(parent_, name), opts_);
  auto setup = [&]() -> Result<void> {
    if (opts_.device_filter) BERTH_TRY(cg->init_devices(r.devices));
    return cg->update(r);
  };
  if (auto s = setup(); !s) {
    if (auto u = cg->destroy(); !u)
      log::warn("cgroup: undo create ", name, ": ", u.error().message);
    return std::unexpected(std::move(s.error()).context(context));
  }
  return std::unique_ptr<Cgroup>(std::move(cg));
}

Result<std::unique_ptr<Cgroup>> V2Manager::open(std::string_view name) {
  BERTH_TRY(check_cgroup_name(name));
  auto parent = open_parent();
  if (!parent && parent.error().sys_errno == ENOENT)
    return fail(Errc::not_found, str_cat("no cgroup ", name, " under ", parent_));
  if (!parent) return std::unexpected(std::move(parent.error()));
  auto d = parent->open(name);
  if (!d && d.error().sys_errno == ENOENT)
    return fail(Errc::not_found, str_cat("no cgroup ", name, " under ", parent_));
  if (!d) return std::unexpected(std::move(d.error()));
  return std::unique_ptr<Cgroup>(std::make_unique<V2Cgroup>(
      std::string(name), std::move(*d), join_cgroup_path(parent_, name), opts_));
}

Result<std::vector<std::string>> V2Manager::list() {
  auto parent = open_parent();
  if (!parent && parent.error().sys_errno == ENOENT) return std::vector<std::string>();
  if (!parent) return std::unexpected(std::move(parent.error()));
  return parent->subdirs();
}

Result<void> V2Manager::remove(std::string_view name) {
  auto cg = open(name);
  if (!cg) return cg.error().code == Errc::not_found ? Result<void>() : std::unexpected(cg.error());
  return (*cg)->destroy();
}

}  // namespace

Result<std::unique_ptr<Manager>> make_manager(Unified unified, ManagerOptions opts) {
  Dir root = BERTH_TRY(Dir::open_root(unified.mount_point, opts.hooks));
  std::string parent = BERTH_TRY(containers_parent(unified.own, opts.parent));
  if (!opts.self_leaf.empty()) {
    BERTH_TRY(with_context(check_cgroup_name(opts.self_leaf), "self leaf"));
    if (parent.starts_with(join_cgroup_path(unified.own, opts.self_leaf)))
      return fail(Errc::invalid_argument, str_cat("the daemon's leaf cgroup '", opts.self_leaf,
                                                  "' would hold the containers' parent ", parent));
  }
  // Controllers are set up from the daemon's own cgroup down (from the root
  // for an absolute parent): the levels above are not ours.
  size_t first_managed =
      !opts.parent.empty() && opts.parent.front() == '/' ? 0 : path_components(unified.own).size();
  return std::unique_ptr<Manager>(
      std::make_unique<V2Manager>(std::move(root), join_cgroup_path(unified.own, ""),
                                  std::move(parent), first_managed, std::move(opts)));
}

}  // namespace berth::core::cgroup::v2
