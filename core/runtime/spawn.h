// spawn: starts a container's first process from a SpawnSpec.
//
// One clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | namespaces): the child
// shares the daemon's memory (no page-table copy) and runs only syscalls
// over the precomputed spec — join cgroups, mount the overlay root and the
// container mounts, pivot_root, set limits, identity, capabilities and
// seccomp — then execve. The calling thread is suspended until the child
// has exec'd or failed, so when spawn() returns the outcome is known: a
// running process (with its pidfd), or an Error naming the failed step and
// errno (e.g. `exec: "nosuch": executable file not found in $PATH`).
//
// Blocks the calling thread for the child's setup: call from the blocking
// pool. The child uses raw syscalls for identity changes (glibc's setuid
// family would signal the daemon's threads).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/runtime/spec.h"

namespace berth::core::runtime {

// Nanosecond timestamps (CLOCK_MONOTONIC) of the spawn's phases.
struct SpawnTimes {
  uint64_t clone = 0;        // parent, before clone
  uint64_t child = 0;        // child starts
  uint64_t cgroup = 0;       // joined its cgroups
  uint64_t rootfs = 0;       // overlay root mounted
  uint64_t mounts = 0;       // container mounts done
  uint64_t pivot = 0;        // after pivot_root
  uint64_t exec = 0;         // about to execve
  uint64_t returned = 0;     // parent, clone returned
};

struct Spawned {
  pid_t pid = -1;
  unique_fd pidfd;
  unique_fd tty_master;  // with spec.tty
  SpawnTimes times;
};

// The child step that failed, for errors and exit codes.
enum class SpawnStep : uint32_t {
  cgroup = 1, signals, stdio, session, mount_private, rootfs, netns, mounts, tty, pivot_root,
  readonly_root, hostname, rlimits, oom_score, workdir, groups, gid, uid, caps, no_new_privs,
  seccomp, exec,
};

Result<Spawned> spawn(const SpawnSpec& spec);

uint64_t monotonic_ns();

// Brings up lo in the calling thread's network namespace: raw syscalls, no
// allocation (the clone child calls it too); -1 with errno on failure.
int loopback_up() noexcept;

}  // namespace berth::core::runtime
