// The cgroup layer: one interface, two drivers (v1/ and v2/).
//
// A Manager owns the place where containers' cgroups live: a parent cgroup,
// by default "berth" below the daemon's own cgroup in each hierarchy (read
// from /proc/self/cgroup), or a configured parent (docker's --cgroup-parent:
// absolute from the hierarchy root when it starts with '/', else below the
// daemon's own cgroup). It creates, opens, lists and removes containers'
// cgroups there and never touches any other cgroup, except to enable
// controllers (v2 cgroup.subtree_control, only adding, only what is missing)
// in the levels above the parent, without which nothing below could be
// limited.
//
// A Cgroup is one container's cgroup across hierarchies: join (procs_fds,
// clone_dir_fd), limits (update), freezer, stats, OOM events, kill, destroy.
//
// Paths are passed in (ManagerOptions): tests run both drivers on fake
// cgroupfs trees in a temp dir, where FsHooks play the kernel's part.
//
// Blocking: every call reads or writes cgroupfs (cheap, but blocking);
// freeze() waits for the kernel up to freeze_timeout and destroy() retries
// an EBUSY rmdir up to busy_timeout. Run them off the reactor. The fds
// handed out (procs, clone dir, OOM event) are the caller's to poll or use.
// Thread-safety: a Manager is thread-safe; a Cgroup is thread-compatible
// (one user at a time) and independent of its Manager's lifetime.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/cgroup/devices.h"

namespace berth::core::cgroup {

enum class Version { v1 = 1, v2 = 2 };

// Limits, in docker's units. nullopt (or empty) leaves what the kernel has.
// The engine maps docker's "0 = not set" to nullopt before it gets here.
struct Resources {
  std::optional<int64_t> memory;              // bytes; -1 = unlimited
  std::optional<int64_t> memory_swap;         // memory + swap, bytes; -1 = unlimited swap
  std::optional<int64_t> memory_reservation;  // soft limit (v1) / memory.low (v2)
  std::optional<int64_t> cpu_shares;          // 2..262144 (v2: converted to cpu.weight)
  std::optional<int64_t> cpu_quota;           // us per period; <= 0 = unlimited
  std::optional<int64_t> cpu_period;          // us
  std::optional<int64_t> nano_cpus;           // 1e9 = one CPU: quota over a 100000 us period
  std::optional<int64_t> pids_limit;          // <= 0 = unlimited
  std::string cpuset_cpus;                    // "0-3,5"
  std::string cpuset_mems;
  bool oom_kill_disable = false;  // v1 only (v2 has none: logged and ignored)
  // Extra device rules, applied at create after docker's defaults (deny all,
  // then default_device_rules()): docker's --device and
  // --device-cgroup-rule; tun_device_rule() for NET_ADMIN containers;
  // DeviceRule::all(true) for --privileged. update() ignores them.
  std::vector<DeviceRule> devices;
};

// docker's conversion of cpu shares to cgroup v2 cpu.weight (runc's).
uint64_t cpu_shares_to_weight(int64_t shares);

struct Stats {
  uint64_t memory_usage = 0;                 // bytes
  std::optional<uint64_t> memory_limit;      // nullopt = unlimited
  std::optional<uint64_t> memory_max_usage;  // v1 max_usage_in_bytes; v2 memory.peak when present
  std::vector<std::pair<std::string, uint64_t>> memory_stat;  // memory.stat, in kernel order
  uint64_t pids_current = 0;
  std::optional<uint64_t> pids_limit;  // nullopt = unlimited
  uint64_t cpu_usage_ns = 0;
  uint64_t cpu_user_ns = 0;
  uint64_t cpu_system_ns = 0;
  std::vector<uint64_t> cpu_per_cpu_ns;  // v1 only (cpuacct.usage_percpu); empty on v2
  uint64_t cpu_periods = 0;
  uint64_t cpu_throttled_periods = 0;
  uint64_t cpu_throttled_ns = 0;
};

// Test seam: a fake cgroupfs in a temp dir has no kernel behind it, so the
// test plays its part. Production leaves these empty.
struct FsHooks {
  // After mkdir of a cgroup directory: populate it as the kernel would.
  std::function<void(const std::string& dir)> created;
  // Before rmdir: empty it (a kernel cgroup dir is removable with its files).
  std::function<void(const std::string& dir)> removing;
  // Before each write (the file exists): a non-zero errno fails the write
  // with it, as the kernel refusing a value does (EINVAL, EBUSY...).
  std::function<int(const std::string& file, std::string_view value)> refuse;
  // After each successful write: record it, change files as the kernel
  // would (freezer.state, cgroup.events...).
  std::function<void(const std::string& file, std::string_view value)> written;
};

struct ManagerOptions {
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string mountinfo = "/proc/self/mountinfo";
  std::string self_cgroup = "/proc/self/cgroup";
  // "" = "berth" below the daemon's own cgroup; "/a/b" = /a/b from the
  // hierarchy root; "a/b" = below the daemon's own cgroup.
  std::string parent;
  std::chrono::milliseconds freeze_timeout{5000};
  std::chrono::milliseconds busy_timeout{2000};  // rmdir retries while EBUSY
  // v2: load and attach the eBPF device program (a fake tree turns it off).
  bool device_filter = true;
  // v2: the kernel refuses to enable controllers in a non-root cgroup that
  // holds processes ("no internal processes": EBUSY), so while the daemon
  // sits in its own cgroup nothing below can be limited. Non-empty: then
  // move this process (only it, never others) into <own>/<self_leaf> and
  // try again, as systemd advises for services with Delegate=yes.
  // "" = never move; the refusal is logged and limits needing a controller
  // fail with a message that names it.
  std::string self_leaf;
  // v1: cgroups made ahead, with the cpuset and docker's device rules in
  // place, renamed to the container's name at create (8 hierarchies make a
  // v1 create cost ~0.6 ms; a rename is one call each). Spares are named
  // ".spare-<spare_tag>-<random>" below the parent; those of the same tag
  // found at start-up are leftovers of a daemon that crashed and are
  // removed. 0 spares or an empty tag: off. (v2 makes one directory: none.)
  int spares = 0;
  std::string spare_tag;
  std::shared_ptr<const FsHooks> hooks;
};

class Cgroup {
 public:
  virtual ~Cgroup() = default;

  virtual Version version() const = 0;
  virtual const std::string& name() const = 0;
  // The cgroup's path as /proc/PID/cgroup shows it (v1: in the memory
  // hierarchy, else the first one), for inspect.
  virtual std::string path() const = 0;
  // Absolute directories, one per hierarchy (v2: one).
  virtual std::vector<std::string> dirs() const = 0;

  // Open O_WRONLY|O_CLOEXEC fds of cgroup.procs (v1: one per hierarchy,
  // v2: one). A freshly cloned child writes "0" into each to join.
  virtual Result<std::vector<unique_fd>> procs_fds() = 0;
  // v2: an O_PATH|O_DIRECTORY fd for clone3's CLONE_INTO_CGROUP; v1: an
  // empty unique_fd.
  virtual Result<unique_fd> clone_dir_fd() = 0;

  virtual Result<void> update(const Resources& r) = 0;

  // Waits (up to freeze_timeout) until the kernel reports the cgroup frozen;
  // on timeout thaws again and fails with Errc::timeout.
  virtual Result<void> freeze() = 0;
  virtual Result<void> thaw() = 0;

  virtual Result<Stats> stats() = 0;
  // OOM kills in this cgroup (and below) so far.
  virtual Result<uint64_t> oom_kill_count() = 0;
  // A non-blocking fd that becomes readable when an OOM event may have
  // happened: v1 an eventfd registered on memory.oom_control (it also fires
  // when the cgroup is removed, and on OOM conditions without a kill); v2 an
  // inotify fd watching memory.events (any change). The caller drains it
  // and re-reads oom_kill_count() to confirm a kill.
  virtual Result<unique_fd> oom_event_fd() = 0;

  // Every process in the cgroup and its descendants.
  virtual Result<std::vector<pid_t>> pids() = 0;
  // Signals every process (v2 SIGKILL: cgroup.kill when the kernel has it;
  // v1 SIGKILL: freeze, kill, thaw so nothing forks away).
  virtual Result<void> kill_all(int signal) = 0;
  // rmdir in every hierarchy, descendants first, never following symlinks;
  // retries EBUSY while the kernel finishes releasing (busy_timeout).
  // Processes must be gone (kill_all, then reap). Idempotent.
  virtual Result<void> destroy() = 0;
};

class Manager {
 public:
  virtual ~Manager() = default;

  // Reads mountinfo and self_cgroup: v2 when cgroup_root is a cgroup2 mount
  // with controllers (or a cgroup2 mount is all there is below it), else v1
  // over the hierarchies (memory, cpu, cpuacct, cpuset, pids, freezer,
  // devices, blkio) mounted below cgroup_root.
  static Result<std::unique_ptr<Manager>> detect(ManagerOptions opts = {});

  virtual Version version() const = 0;
  // The parent of containers' cgroups, from the hierarchy root (v1: in the
  // memory hierarchy, else the first).
  virtual std::string parent_path() const = 0;

  // Makes the parent if needed, then the container's cgroup with docker's
  // device rules and r's limits; undoes what it made if a step fails.
  // Errc::conflict when it exists.
  virtual Result<std::unique_ptr<Cgroup>> create(std::string_view name, const Resources& r) = 0;
  // An existing container cgroup (after a daemon restart). Errc::not_found
  // when it is in no hierarchy.
  virtual Result<std::unique_ptr<Cgroup>> open(std::string_view name) = 0;
  // Names of the container cgroups under the parent (any hierarchy), sorted
  // (spares are not containers' and are not listed).
  virtual Result<std::vector<std::string>> list() = 0;
  // open(name) + destroy(); nothing there is success (startup cleanup).
  virtual Result<void> remove(std::string_view name) = 0;
};

}  // namespace berth::core::cgroup
