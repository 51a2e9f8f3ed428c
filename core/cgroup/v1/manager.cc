#include "core/cgroup/v1/manager.h"

#include <algorithm>
#include <mutex>
#include <random>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/cgroup/dir.h"
#include "core/cgroup/hierarchy.h"
#include "core/cgroup/v1/cgroup.h"
#include "io/ready_pool.h"

namespace berth::core::cgroup::v1 {

const std::vector<std::string>& known_controllers() {
  static const std::vector<std::string> names = {"memory", "cpu",     "cpuacct", "cpuset",
                                                 "pids",   "freezer", "devices", "blkio"};
  return names;
}

static bool at_or_below(std::string_view path, std::string_view root) {
  std::string r = join_cgroup_path(root, "");
  std::string p = join_cgroup_path(path, "");
  return r == "/" || p == r || (p.starts_with(r) && p[r.size()] == '/');
}

std::vector<Hierarchy> find_hierarchies(std::string_view mountinfo, std::string_view proc_cgroup,
                                        std::string_view cgroup_root) {
  std::vector<ProcCgroup> own = parse_proc_cgroup(proc_cgroup);
  std::vector<Hierarchy> out;
  for (const std::string& controller : known_controllers()) {
    for (const MountEntry& m : parse_mountinfo(mountinfo)) {
      if (m.fstype != "cgroup" || !at_or_below(m.mount_point, cgroup_root)) continue;
      const auto& so = m.super_options;
      if (std::find(so.begin(), so.end(), controller) == so.end()) continue;
      auto same = [&](const Hierarchy& h) { return h.mount_point == m.mount_point; };
      if (std::find_if(out.begin(), out.end(), same) != out.end()) break;  // joint mount
      Hierarchy h;
      h.mount_point = m.mount_point;
      for (const std::string& c : known_controllers())
        if (std::find(so.begin(), so.end(), c) != so.end()) h.controllers.push_back(c);
      for (const ProcCgroup& p : own)
        if (std::find(p.controllers.begin(), p.controllers.end(), controller) !=
            p.controllers.end())
          h.own = path_below_mount_root(p.path, m.root);
      out.push_back(std::move(h));
      break;  // the same hierarchy mounted twice: the first is enough
    }
  }
  return out;
}

namespace {

class V1Manager final : public Manager {
 public:
  struct Root {
    Hierarchy h;
    Dir root;
    std::string parent;  // containers' parent, from the hierarchy root
  };

  V1Manager(std::vector<Root> roots, ManagerOptions opts)
      : roots_(std::move(roots)), opts_(std::move(opts)) {}
  ~V1Manager() override;

  Version version() const override { return Version::v1; }
  std::string parent_path() const override { return main_root().parent; }

  Result<std::unique_ptr<Cgroup>> create(std::string_view name, const Resources& r) override;
  Result<std::unique_ptr<Cgroup>> open(std::string_view name) override;
  Result<std::vector<std::string>> list() override;
  Result<void> remove(std::string_view name) override;

 private:
  const Root& main_root() const {
    for (const Root& r : roots_)
      if (std::find(r.h.controllers.begin(), r.h.controllers.end(), "memory") !=
          r.h.controllers.end())
        return r;
    return roots_.front();
  }
  using Parents = std::vector<Dir>;
  // The parent directory in each hierarchy, made where missing; a new
  // level in the cpuset hierarchy gets its parent's cpus and mems. Called
  // with mu_ held.
  Result<Parents> make_parents();
  // The parents, made once and kept open (the start path pays nothing);
  // made again when `stale` is what is kept (one vanished).
  Result<std::shared_ptr<const Parents>> parents(const std::shared_ptr<const Parents>& stale);
  // The container's directory in each hierarchy (undone on failure).
  Result<std::vector<V1Cgroup::Part>> make_dirs(const Parents& parents, std::string_view name);
  // The parents that exist (empty Dir where one does not).
  Result<std::vector<Dir>> open_parents() const;

  // Spares (see ManagerOptions::spares).
  struct Spare {
    std::string name;
    std::shared_ptr<const Parents> parents;  // where it was made
  };
  bool spares_on() const { return opts_.spares > 0 && !opts_.spare_tag.empty(); }
  std::string spare_prefix() const { return str_cat(".spare-", opts_.spare_tag, "-"); }
  // One new spare: directories, cpuset, docker's device rules.
  Result<Spare> make_spare();
  // Renames a spare to name in every hierarchy; false (spare gone) when a
  // rename fails.
  bool claim_spare(const Spare& s, std::string_view name);
  // Removes a spare's directories (they hold no process).
  void drop_spare(const Spare& s);

 public:
  // (blocking) Removes spares of this tag that a crashed daemon left, then
  // makes the first ones.
  void start_spares();

 private:
  std::vector<Root> roots_;
  ManagerOptions opts_;
  std::mutex mu_;  // guards parents_, serializes parent creation
  std::shared_ptr<const Parents> parents_;
  std::unique_ptr<io::ReadyPool<Spare>> spares_;  // when spares_on()
};

V1Manager::~V1Manager() {
  if (!spares_) return;
  for (const Spare& s : spares_->release()) drop_spare(s);
}

void V1Manager::drop_spare(const Spare& s) {
  for (const Dir& p : *s.parents)
    if (auto r = p.remove(s.name, opts_.busy_timeout); !r)
      log::warn("cgroup: remove spare: ", r.error().message);
}

Result<V1Manager::Spare> V1Manager::make_spare() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  Spare s;
  uint64_t id = rng();
  s.name = str_cat(spare_prefix(), to_hex(reinterpret_cast<const unsigned char*>(&id), sizeof id));
  s.parents = BERTH_TRY(parents(nullptr));
  auto parts = BERTH_TRY(make_dirs(*s.parents, s.name));
  V1Cgroup cg(s.name, std::move(parts), opts_);
  auto setup = [&]() -> Result<void> {
    for (size_t i = 0; i < roots_.size(); ++i) {
      const auto& cs = roots_[i].h.controllers;
      if (std::find(cs.begin(), cs.end(), "cpuset") != cs.end())
        BERTH_TRY(cg.init_cpuset((*s.parents)[i]));
    }
    return cg.init_devices({});
  };
  if (auto r = setup(); !r) {
    (void)cg.destroy();
    return std::unexpected(std::move(r.error()));
  }
  return s;
}

bool V1Manager::claim_spare(const Spare& s, std::string_view name) {
  size_t done = 0;
  for (; done < s.parents->size(); ++done)
    if (!(*s.parents)[done].rename(s.name, name)) break;
  if (done == s.parents->size()) return true;
  // Undo, then drop the spare.
  for (size_t i = 0; i < done; ++i) (void)(*s.parents)[i].rename(name, s.name);
  drop_spare(s);
  return false;
}

void V1Manager::start_spares() {
  if (!spares_on()) return;
  if (auto ps = open_parents()) {
    for (const Dir& p : *ps) {
      if (!p) continue;
      auto names = p.subdirs();
      for (const std::string& n : names ? *names : std::vector<std::string>{})
        if (n.starts_with(spare_prefix())) (void)p.remove(n, opts_.busy_timeout);
    }
  }
  V1Manager* self = this;
  auto make = [self] { return self->make_spare(); };
  spares_ = std::make_unique<io::ReadyPool<Spare>>("spare cgroup", opts_.spares, std::move(make));
  spares_->fill();
}

Result<std::shared_ptr<const V1Manager::Parents>> V1Manager::parents(
    const std::shared_ptr<const Parents>& stale) {
  std::lock_guard lock(mu_);
  if (!parents_ || parents_ == stale)
    parents_ = std::make_shared<const Parents>(BERTH_TRY(make_parents()));
  return parents_;
}

Result<std::vector<Dir>> V1Manager::make_parents() {
  std::vector<Dir> out;
  for (const Root& r : roots_) {
    bool is_cpuset = std::find(r.h.controllers.begin(), r.h.controllers.end(), "cpuset") !=
                     r.h.controllers.end();
    Dir cur = BERTH_TRY(r.root.open(""));
    for (const std::string& c : path_components(r.parent)) {
      bool created = false;
      Dir next = BERTH_TRY(cur.make_or_open(c, &created));
      if (created) {
        log::debug("cgroup: created ", next.path());
        if (is_cpuset) BERTH_TRY(copy_cpuset(next, cur));
      }
      cur = std::move(next);
    }
    out.push_back(std::move(cur));
  }
  return out;
}

Result<std::vector<Dir>> V1Manager::open_parents() const {
  std::vector<Dir> out;
  for (const Root& r : roots_) {
    auto d = r.root.open(r.parent);
    if (!d && d.error().sys_errno != ENOENT) return std::unexpected(std::move(d.error()));
    out.push_back(d ? std::move(*d) : Dir());
  }
  return out;
}

Result<std::vector<V1Cgroup::Part>> V1Manager::make_dirs(const Parents& parents,
                                                         std::string_view name) {
  std::vector<V1Cgroup::Part> parts;
  for (size_t i = 0; i < roots_.size(); ++i) {
    auto d = parents[i].make(name);
    if (!d) {
      Error e = std::move(d.error());
      if (e.sys_errno == EEXIST)
        e.message = str_cat("cgroup exists: ", parents[i].path(), "/", name);
      // Undo the directories made so far (they are empty: nothing joined).
      V1Cgroup partial(std::string(name), std::move(parts), opts_);
      (void)partial.destroy();
      return std::unexpected(std::move(e));
    }
    parts.push_back(
        {roots_[i].h.controllers, std::move(*d), join_cgroup_path(roots_[i].parent, name)});
  }
  return parts;
}

Result<std::unique_ptr<Cgroup>> V1Manager::create(std::string_view name, const Resources& r) {
  BERTH_TRY(check_cgroup_name(name));
  std::string err_context = str_cat("create cgroup ", name);
  auto ps = BERTH_TRY(with_context(parents(nullptr), err_context));
  // A spare has the directories, the cpuset and the default device rules.
  if (spares_ && r.devices.empty()) {
    std::optional<Spare> spare = spares_->take();
    if (spare && spare->parents == ps && claim_spare(*spare, name)) {
      std::vector<V1Cgroup::Part> parts;
      for (size_t i = 0; i < roots_.size(); ++i) {
        auto d = (*ps)[i].open(name);
        if (!d) {
          V1Cgroup partial(std::string(name), std::move(parts), opts_);
          (void)partial.destroy();
          for (size_t k = i; k < roots_.size(); ++k)
            (void)(*ps)[k].remove(name, opts_.busy_timeout);
          return std::unexpected(std::move(d.error()).context(err_context));
        }
        parts.push_back(
            {roots_[i].h.controllers, std::move(*d), join_cgroup_path(roots_[i].parent, name)});
      }
      auto cg = std::make_unique<V1Cgroup>(std::string(name), std::move(parts), opts_);
      if (auto u = cg->update(r); !u) {
        if (auto d = cg->destroy(); !d)
          log::warn("cgroup: undo create ", name, ": ", d.error().message);
        return std::unexpected(std::move(u.error()).context(err_context));
      }
      return std::unique_ptr<Cgroup>(std::move(cg));
    }
    if (spare && spare->parents != ps) drop_spare(*spare);
  }
  auto made = make_dirs(*ps, name);
  if (!made && made.error().sys_errno == ENOENT) {  // a parent went away: again
    ps = BERTH_TRY(with_context(parents(ps), err_context));
    made = make_dirs(*ps, name);
  }
  if (!made) return std::unexpected(std::move(made.error()).context(err_context));
  const Parents& parent_dirs = *ps;
  auto cg = std::make_unique<V1Cgroup>(std::string(name), std::move(*made), opts_);
  auto setup = [&]() -> Result<void> {
    for (size_t i = 0; i < roots_.size(); ++i) {
      const auto& cs = roots_[i].h.controllers;
      if (std::find(cs.begin(), cs.end(), "cpuset") != cs.end())
        BERTH_TRY(cg->init_cpuset(parent_dirs[i]));
    }
    BERTH_TRY(cg->init_devices(r.devices));
    return cg->update(r);
  };
  if (auto s = setup(); !s) {
    if (auto d = cg->destroy(); !d)
      log::warn("cgroup: undo create ", name, ": ", d.error().message);
    return std::unexpected(std::move(s.error()).context(err_context));
  }
  return std::unique_ptr<Cgroup>(std::move(cg));
}

Result<std::unique_ptr<Cgroup>> V1Manager::open(std::string_view name) {
  BERTH_TRY(check_cgroup_name(name));
  std::vector<Dir> parents = BERTH_TRY(open_parents());
  std::vector<V1Cgroup::Part> parts;
  for (size_t i = 0; i < roots_.size(); ++i) {
    if (!parents[i]) continue;
    auto d = parents[i].open(name);
    if (!d) {
      if (d.error().sys_errno == ENOENT) continue;
      return std::unexpected(std::move(d.error()));
    }
    parts.push_back(
        {roots_[i].h.controllers, std::move(*d), join_cgroup_path(roots_[i].parent, name)});
  }
  if (parts.empty())
    return fail(Errc::not_found, str_cat("no cgroup ", name, " under ", main_root().parent));
  if (parts.size() != roots_.size())
    log::warn("cgroup: ", name, " is missing in ", roots_.size() - parts.size(), " hierarchies");
  return std::unique_ptr<Cgroup>(
      std::make_unique<V1Cgroup>(std::string(name), std::move(parts), opts_));
}

Result<std::vector<std::string>> V1Manager::list() {
  std::vector<Dir> parents = BERTH_TRY(open_parents());
  std::vector<std::string> out;
  for (const Dir& p : parents) {
    if (!p) continue;
    for (std::string& n : BERTH_TRY(p.subdirs()))
      if (!n.starts_with(".spare-")) out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<void> V1Manager::remove(std::string_view name) {
  auto cg = open(name);
  if (!cg) return cg.error().code == Errc::not_found ? Result<void>() : std::unexpected(cg.error());
  return (*cg)->destroy();
}

}  // namespace

Result<std::unique_ptr<Manager>> make_manager(std::vector<Hierarchy> hierarchies,
                                              ManagerOptions opts) {
  if (hierarchies.empty()) return fail(Errc::not_found, "no cgroup v1 hierarchy");
  std::vector<V1Manager::Root> roots;
  for (Hierarchy& h : hierarchies) {
    Dir root = BERTH_TRY(Dir::open_root(h.mount_point, opts.hooks));
    std::string parent = BERTH_TRY(containers_parent(h.own, opts.parent));
    roots.push_back({std::move(h), std::move(root), std::move(parent)});
  }
  bool has_devices = false;
  for (const auto& r : roots)
    for (const auto& c : r.h.controllers) has_devices |= c == "devices";
  if (!has_devices)
    log::error("cgroup: no v1 devices hierarchy: containers' device access is not restricted");
  auto m = std::make_unique<V1Manager>(std::move(roots), std::move(opts));
  m->start_spares();
  return std::unique_ptr<Manager>(std::move(m));
}

}  // namespace berth::core::cgroup::v1
