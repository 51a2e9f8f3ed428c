// A fake cgroupfs in a temp dir for the cgroup driver tests: the files a
// kernel would show (mountinfo, /proc/self/cgroup, cgroup directories with
// their controller files), and FsHooks that play the kernel's part: a new
// directory gets its files, rmdir sees it emptied, writes are recorded and
// have the effects tests need (subtree_control, freezer, cgroup.events).
// Header-only: tests/<area>/*_test.cc files are the only sources compiled.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/base/strings.h"
#include "core/cgroup/manager.h"
#include "tests/testlib/testlib.h"

namespace berth::testing::cgroup_fake {

namespace cg = berth::core::cgroup;

inline void write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::symlink_status(path, ec));
}

struct Write {
  std::string file;  // absolute
  std::string value;
  bool operator==(const Write&) const = default;
};

inline std::ostream& operator<<(std::ostream& o, const Write& w) {
  return o << w.file << "=" << w.value;
}

// State shared by the hooks and the test.
class Kernel {
 public:
  // Freezer: when stuck, a freeze request never completes.
  void set_freeze_stuck(bool stuck) {
    std::lock_guard l(mu_);
    freeze_stuck_ = stuck;
  }
  bool freeze_stuck() {
    std::lock_guard l(mu_);
    return freeze_stuck_;
  }
  void record(const std::string& file, std::string_view value) {
    std::lock_guard l(mu_);
    writes_.push_back({file, std::string(value)});
  }
  std::vector<Write> writes() {
    std::lock_guard l(mu_);
    return writes_;
  }
  // The writes to files whose path ends with suffix, in order.
  std::vector<std::string> values_of(const std::string& suffix) {
    std::vector<std::string> out;
    for (const Write& w : writes())
      if (w.file.size() >= suffix.size() &&
          w.file.compare(w.file.size() - suffix.size(), suffix.size(), suffix) == 0)
        out.push_back(w.value);
    return out;
  }
  void clear() {
    std::lock_guard l(mu_);
    writes_.clear();
  }
  // Writes to files ending with suffix fail with err (0: accepted again).
  void refuse(const std::string& suffix, int err) {
    std::lock_guard l(mu_);
    refusals_[suffix] = err;
  }
  int refusal_for(const std::string& file) {
    std::lock_guard l(mu_);
    for (const auto& [suffix, err] : refusals_)
      if (file.ends_with(suffix) && err) return err;
    return 0;
  }

 private:
  std::mutex mu_;
  bool freeze_stuck_ = false;
  std::vector<Write> writes_;
  std::map<std::string, int> refusals_;
};

// Removes the regular files of a fake cgroup dir (rmdir on cgroupfs
// ignores them); symlinks and subdirectories stay, as they would block.
inline void empty_dir(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && !e.is_symlink()) std::filesystem::remove(e.path(), ec);
}

// ---- cgroup v1 -------------------------------------------------------------

inline void populate_v1(const std::string& dir, const std::vector<std::string>& controllers,
                        bool root, bool swap_accounting) {
  auto has = [&](std::string_view c) {
    return std::find(controllers.begin(), controllers.end(), c) != controllers.end();
  };
  write_file(dir + "/cgroup.procs", "");
  write_file(dir + "/tasks", "");
  write_file(dir + "/notify_on_release", "0\n");
  write_file(dir + "/cgroup.clone_children", "0\n");
  if (has("memory")) {
    write_file(dir + "/memory.limit_in_bytes", "9223372036854771712\n");
    write_file(dir + "/memory.soft_limit_in_bytes", "9223372036854771712\n");
    if (swap_accounting) write_file(dir + "/memory.memsw.limit_in_bytes", "9223372036854771712\n");
    write_file(dir + "/memory.usage_in_bytes", "0\n");
    write_file(dir + "/memory.max_usage_in_bytes", "0\n");
    write_file(dir + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    write_file(dir + "/memory.stat", "cache 0\nrss 0\ntotal_inactive_file 0\n");
    write_file(dir + "/cgroup.event_control", "");
  }
  if (has("cpu")) {
    write_file(dir + "/cpu.shares", "1024\n");
    write_file(dir + "/cpu.cfs_period_us", "100000\n");
    write_file(dir + "/cpu.cfs_quota_us", "-1\n");
    write_file(dir + "/cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n");
  }
  if (has("cpuacct")) {
    write_file(dir + "/cpuacct.usage", "0\n");
    write_file(dir + "/cpuacct.usage_percpu", "0 0 \n");
    write_file(dir + "/cpuacct.stat", "user 0\nsystem 0\n");
  }
  if (has("cpuset")) {
    write_file(dir + "/cpuset.cpus", root ? "0-3\n" : "\n");
    write_file(dir + "/cpuset.mems", root ? "0\n" : "\n");
  }
  if (has("pids") && !root) {
    write_file(dir + "/pids.max", "max\n");
    write_file(dir + "/pids.current", "0\n");
  }
  if (has("freezer") && !root) write_file(dir + "/freezer.state", "THAWED\n");
  if (has("devices")) {
    write_file(dir + "/devices.allow", "");
    write_file(dir + "/devices.deny", "");
    write_file(dir + "/devices.list", "a *:* rwm\n");
  }
  if (has("blkio")) write_file(dir + "/blkio.weight", "500\n");
}

struct V1Options {
  bool joint_cpu = true;        // cpu,cpuacct on one mount
  bool swap_accounting = true;  // memory.memsw.* files
  bool with_pids = true;
  std::string memory_own = "/process_api/abc";  // as on the dev machine
  std::string other_own = "/";
};

// A hybrid host like the dev machine: v1 hierarchies, an empty unified
// mount, a named systemd hierarchy.
class V1Tree {
 public:
  explicit V1Tree(V1Options o = {}) : opts_(std::move(o)), kernel_(std::make_shared<Kernel>()) {
    root_ = dir_ / "cg";
    std::filesystem::create_directories(root_);
    std::vector<std::pair<std::string, std::vector<std::string>>> mounts = {
        {"memory", {"memory"}},
        {"cpuset", {"cpuset"}},
        {"freezer", {"freezer"}},
        {"devices", {"devices"}},
        {"blkio", {"blkio"}}};
    if (opts_.with_pids) mounts.push_back({"pids", {"pids"}});
    if (opts_.joint_cpu) {
      mounts.push_back({"cpu,cpuacct", {"cpu", "cpuacct"}});
    } else {
      mounts.push_back({"cpu", {"cpu"}});
      mounts.push_back({"cpuacct", {"cpuacct"}});
    }
    std::string mi = str_cat("20 1 0:20 / / rw,relatime - ext4 /dev/vda rw\n", "30 20 0:27 / ",
                             root_, " rw - tmpfs tmpfs rw,mode=755\n");
    std::string self = "9:name=systemd:/\n";
    int id = 31, hid = 1;
    for (auto& [dirname, ctls] : mounts) {
      std::string mp = root_ + "/" + dirname;
      std::filesystem::create_directories(mp);
      populate_v1(mp, ctls, true, opts_.swap_accounting);
      mounts_[mp] = ctls;
      int mount_id = id++;
      str_append(mi, mount_id, " 30 0:", mount_id, " / ", mp, " rw,nosuid - cgroup cgroup rw,",
                 join(ctls, ","), "\n");
      bool is_mem = ctls[0] == "memory";
      std::string own = is_mem ? opts_.memory_own : opts_.other_own;
      str_append(self, hid++, ":", join(ctls, ","), ":", own, "\n");
      // The daemon's own cgroup exists (made by whoever started it).
      std::string cur = mp;
      for (const std::string& c : split_path(own)) {
        cur += "/" + c;
        std::filesystem::create_directory(cur);
        populate_v1(cur, ctls, false, opts_.swap_accounting);
        if (ctls[0] == "cpuset") {
          write_file(cur + "/cpuset.cpus", "0-3\n");
          write_file(cur + "/cpuset.mems", "0\n");
        }
      }
    }
    std::filesystem::create_directories(root_ + "/systemd");
    std::filesystem::create_directories(root_ + "/unified");
    str_append(mi, id, " 30 0:50 / ", root_, "/systemd rw - cgroup cgroup rw,xattr,name=systemd\n");
    str_append(mi, id + 1, " 30 0:51 / ", root_, "/unified rw - cgroup2 cgroup2 rw\n");
    self += "0::/\n";
    write_file(dir_ / "mountinfo", mi);
    write_file(dir_ / "self_cgroup", self);

    auto hooks = std::make_shared<cg::FsHooks>();
    auto kernel = kernel_;
    auto mounts_copy = mounts_;
    bool swap = opts_.swap_accounting;
    hooks->created = [mounts_copy, swap](const std::string& dir) {
      for (const auto& [mp, ctls] : mounts_copy)
        if (dir.rfind(mp + "/", 0) == 0) populate_v1(dir, ctls, false, swap);
    };
    hooks->removing = [](const std::string& dir) { empty_dir(dir); };
    hooks->refuse = [kernel](const std::string& file, std::string_view) {
      return kernel->refusal_for(file);
    };
    hooks->written = [kernel](const std::string& file, std::string_view value) {
      kernel->record(file, value);
      if (file.ends_with("/freezer.state") && value == "FROZEN" && kernel->freeze_stuck())
        write_file(file, "FREEZING\n");
    };
    hooks_ = hooks;
  }

  cg::ManagerOptions options(std::string parent = "") const {
    cg::ManagerOptions o;
    o.cgroup_root = root_;
    o.mountinfo = dir_ / "mountinfo";
    o.self_cgroup = dir_ / "self_cgroup";
    o.parent = std::move(parent);
    o.freeze_timeout = std::chrono::milliseconds(300);
    o.busy_timeout = std::chrono::milliseconds(100);
    o.hooks = hooks_;
    return o;
  }

  const std::string& root() const { return root_; }
  std::string memory() const { return root_ + "/memory"; }
  std::string cpu() const { return root_ + (opts_.joint_cpu ? "/cpu,cpuacct" : "/cpu"); }
  std::string cpuacct() const { return root_ + (opts_.joint_cpu ? "/cpu,cpuacct" : "/cpuacct"); }
  std::string hierarchy(const std::string& dirname) const { return root_ + "/" + dirname; }
  std::vector<std::string> mount_points() const {
    std::vector<std::string> out;
    for (const auto& [mp, c] : mounts_) out.push_back(mp);
    return out;
  }
  // Where the daemon's own cgroup is in the hierarchy at mount point mp.
  std::string own_dir(const std::string& mp) const {
    bool is_mem = mounts_.at(mp)[0] == "memory";
    std::string own = is_mem ? opts_.memory_own : opts_.other_own;
    return own == "/" ? mp : mp + own;
  }
  Kernel& kernel() { return *kernel_; }
  const std::string& tmp() const { return dir_.path(); }

  static std::vector<std::string> split_path(const std::string& p) {
    std::vector<std::string> out;
    for (std::string_view c : split(p, '/'))
      if (!c.empty()) out.emplace_back(c);
    return out;
  }

 private:
  V1Options opts_;
  TempDir dir_{"berth-cgroup-v1"};
  std::string root_;
  std::map<std::string, std::vector<std::string>> mounts_;
  std::shared_ptr<Kernel> kernel_;
  std::shared_ptr<const cg::FsHooks> hooks_;
};

// ---- cgroup v2 -------------------------------------------------------------

inline std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  for (std::string_view w : split(trim(s), ' '))
    if (!w.empty()) out.emplace_back(w);
  return out;
}

// A cgroup dir's files as the kernel shows them: cgroup.controllers is
// what the parent's subtree_control passes down.
inline void populate_v2(const std::string& dir, const std::string& controllers, bool root) {
  write_file(dir + "/cgroup.controllers", controllers + "\n");
  write_file(dir + "/cgroup.subtree_control", "\n");
  write_file(dir + "/cgroup.procs", "");
  write_file(dir + "/cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n");
  if (!root) {
    write_file(dir + "/cgroup.events", "populated 0\nfrozen 0\n");
    write_file(dir + "/cgroup.freeze", "0\n");
    write_file(dir + "/cgroup.kill", "");
  }
  for (const std::string& c : words(controllers)) {
    if (root) break;
    if (c == "memory") {
      write_file(dir + "/memory.max", "max\n");
      write_file(dir + "/memory.swap.max", "max\n");
      write_file(dir + "/memory.low", "0\n");
      write_file(dir + "/memory.current", "0\n");
      write_file(dir + "/memory.peak", "0\n");
      write_file(dir + "/memory.stat", "anon 0\nfile 0\ninactive_file 0\n");
      write_file(dir + "/memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    } else if (c == "cpu") {
      write_file(dir + "/cpu.weight", "100\n");
      write_file(dir + "/cpu.max", "max 100000\n");
      write_file(dir + "/cpu.stat",
                 "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\n"
                 "throttled_usec 0\n");
    } else if (c == "pids") {
      write_file(dir + "/pids.max", "max\n");
      write_file(dir + "/pids.current", "0\n");
    } else if (c == "cpuset") {
      write_file(dir + "/cpuset.cpus", "\n");
      write_file(dir + "/cpuset.mems", "\n");
    } else if (c == "io") {
      write_file(dir + "/io.max", "");
    }
  }
}

struct V2Options {
  std::string root_controllers = "cpuset cpu io memory hugetlb pids";
  std::string own = "/system.slice/berthd.service";
  // What the levels down to own pass on (systemd enables these).
  std::string enabled_above_own = "cpu io memory pids";
  std::string own_procs;  // cgroup.procs of own ("" = the daemon is elsewhere)
};

class V2Tree {
 public:
  explicit V2Tree(V2Options o = {}) : opts_(std::move(o)), kernel_(std::make_shared<KernelV2>()) {
    root_ = dir_ / "cg";
    std::filesystem::create_directories(root_);
    populate_v2(root_, opts_.root_controllers, true);
    write_file(dir_ / "mountinfo",
               str_cat("20 1 0:20 / / rw,relatime - ext4 /dev/vda rw\n", "30 20 0:27 / ", root_,
                       " rw,nosuid,nodev,noexec shared:4 - cgroup2 cgroup2 "
                       "rw,nsdelegate,memory_recursiveprot\n"));
    write_file(dir_ / "self_cgroup", str_cat("0::", opts_.own, "\n"));
    std::string cur = root_;
    for (const std::string& c : V1Tree::split_path(opts_.own)) {
      write_file(cur + "/cgroup.subtree_control", opts_.enabled_above_own + "\n");
      cur += "/" + c;
      std::filesystem::create_directory(cur);
      populate_v2(cur, opts_.enabled_above_own, false);
    }
    own_dir_ = cur;
    write_file(own_dir_ + "/cgroup.procs", opts_.own_procs);

    auto hooks = std::make_shared<cg::FsHooks>();
    auto kernel = kernel_;
    hooks->created = [](const std::string& dir) {
      std::string parent = dir.substr(0, dir.find_last_of('/'));
      populate_v2(dir, std::string(trim(read_file(parent + "/cgroup.subtree_control"))), false);
    };
    hooks->removing = [](const std::string& dir) { empty_dir(dir); };
    std::string root = root_;
    hooks->refuse = [kernel, root](const std::string& file, std::string_view) {
      if (int e = kernel->refusal_for(file)) return e;
      // No internal processes: below the root, a cgroup holding processes
      // cannot pass controllers down.
      std::string dir = file.substr(0, file.find_last_of('/'));
      if (file.ends_with("/cgroup.subtree_control") && dir != root &&
          !trim(read_file(dir + "/cgroup.procs")).empty())
        return EBUSY;
      return 0;
    };
    hooks->written = [kernel, root](const std::string& file, std::string_view value) {
      kernel->record(file, value);
      std::string dir = file.substr(0, file.find_last_of('/'));
      if (file.ends_with("/cgroup.procs")) {
        // A process moves: out of every other cgroup, into this one.
        std::string pid = value == "0" ? std::to_string(::getpid()) : std::string(value);
        for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
          if (e.path().filename() != "cgroup.procs" || e.path() == file) continue;
          std::string kept;
          for (std::string_view line : split(read_file(e.path()), '\n'))
            if (!line.empty() && line != pid) str_append(kept, line, "\n");
          write_file(e.path(), kept);
        }
        write_file(file, pid + "\n");
      }
      if (file.ends_with("/cgroup.subtree_control")) {
        // The write replaced the file; the kernel keeps a set.
        auto& set = kernel->enabled[dir];
        if (set.empty())
          for (const std::string& w : words(kernel->initial_subtree[dir])) set.insert(w);
        for (const std::string& w : words(value)) {
          if (w[0] == '+') set.insert(w.substr(1));
          if (w[0] == '-') set.erase(w.substr(1));
        }
        write_file(file, join(std::vector<std::string>(set.begin(), set.end()), " ") + "\n");
      } else if (file.ends_with("/cgroup.freeze")) {
        bool want = value == "1";
        if (!(want && kernel->freeze_stuck()))
          write_file(dir + "/cgroup.events", str_cat("populated 0\nfrozen ", want ? 1 : 0, "\n"));
      }
    };
    hooks_ = hooks;
    // The levels that exist before berth runs: their subtree_control.
    cur = root_;
    kernel_->initial_subtree[cur] = std::string(trim(read_file(cur + "/cgroup.subtree_control")));
    for (const std::string& c : V1Tree::split_path(opts_.own)) {
      cur += "/" + c;
      kernel_->initial_subtree[cur] = std::string(trim(read_file(cur + "/cgroup.subtree_control")));
    }
  }

  cg::ManagerOptions options(std::string parent = "") const {
    cg::ManagerOptions o;
    o.cgroup_root = root_;
    o.mountinfo = dir_ / "mountinfo";
    o.self_cgroup = dir_ / "self_cgroup";
    o.parent = std::move(parent);
    o.freeze_timeout = std::chrono::milliseconds(300);
    o.busy_timeout = std::chrono::milliseconds(100);
    o.device_filter = false;  // not a real cgroup: no BPF here
    o.hooks = hooks_;
    return o;
  }

  const std::string& root() const { return root_; }
  const std::string& own_dir() const { return own_dir_; }
  const std::string& tmp() const { return dir_.path(); }

  struct KernelV2 : Kernel {
    std::map<std::string, std::set<std::string>> enabled;
    std::map<std::string, std::string> initial_subtree;
  };
  KernelV2& kernel() { return *kernel_; }

 private:
  V2Options opts_;
  TempDir dir_{"berth-cgroup-v2"};
  std::string root_, own_dir_;
  std::shared_ptr<KernelV2> kernel_;
  std::shared_ptr<const cg::FsHooks> hooks_;
};

}  // namespace berth::testing::cgroup_fake
