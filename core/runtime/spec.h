// SpawnSpec: everything a container's first process needs, computed in the
// daemon before the clone. The child runs only syscalls over this data
// (it shares the daemon's memory until it execs), so every string here is
// final and every list is built; nothing in the child allocates.
//
// Built on a blocking-pool thread, read by the child, then dropped after
// spawn() returns. Not thread-safe.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/runtime/caps.h"
#include "core/runtime/seccomp.h"
#include "core/runtime/user.h"

namespace berth::core::runtime {

// One step of building the container's file system view, run in order in
// the child (targets are absolute host paths below the rootfs, before
// pivot_root).
struct MountStep {
  enum class Kind : uint8_t {
    mount,    // mount(source, target, fstype, flags, data)
    bind,     // bind mount source on target (recursive when MS_REC in flags)
    remount,  // MS_REMOUNT|MS_BIND with flags (read-only binds)
    mknod,    // device node at target (mode, dev)
    symlink,  // symlink source -> target
    mkdir,    // directory at target (mode); existing is fine
    mask,     // hide target: /dev/null over a file, read-only tmpfs over a dir
  } kind;
  std::string source, target, fstype, data;
  unsigned long flags = 0;
  mode_t mode = 0;
  dev_t dev = 0;
  bool optional = false;  // a missing target (ENOENT) is not an error
};

struct Rlimit {
  int resource;
  rlimit value;
};

struct SpawnSpec {
  // The process.
  std::vector<std::string> argv;        // argv[0] is the command as given
  std::vector<std::string> env;         // KEY=value
  std::vector<std::string> exec_paths;  // candidates for execve, in order
  std::string cwd = "/";
  ExecUser user;  // uid, gid, groups
  std::string hostname;
  std::vector<Rlimit> rlimits;
  int oom_score_adj = 0;
  bool set_oom_score_adj = false;
  CapSets caps;
  bool apply_caps = false;  // false: keep the daemon's (privileged)
  bool no_new_privileges = false;
  const SeccompProgram* seccomp = nullptr;  // nullptr or empty: unconfined
  bool loopback_up = false;                 // bring up lo in a new netns

  // Namespaces: CLONE_NEW* flags; join_netns >= 0 joins that netns instead.
  int clone_flags = 0;
  int join_netns = -1;

  // The root file system: an overlay mounted at rootfs in the child's
  // mount namespace (only there: it goes away with the container).
  std::string rootfs;
  std::string overlay_options;          // mount(2) data when it fits a page
  std::vector<std::string> lower_dirs;  // else: fsconfig lowerdir+, top first
  std::string upper_dir, work_dir;
  bool readonly_rootfs = false;
  std::vector<MountStep> mounts;
  std::vector<std::string> workdir_create;  // directories to make for cwd, outermost first

  // cgroup.procs files the child joins by writing "0".
  std::vector<int> cgroup_procs_fds;

  // Standard streams (child ends; -1: /dev/null). With tty, a pty is made
  // inside the container's devpts and its master goes to console_socket.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  bool tty = false;
  int console_socket = -1;   // the child's end: it sends the master here
  int console_receive = -1;  // the parent's end of the same socket pair

  // Filled by build(): the pointer arrays execve wants.
  std::vector<const char*> argv_ptrs, env_ptrs;
  void build();
};

}  // namespace berth::core::runtime
