// The container's file system view as docker builds it: /proc, a /dev
// tmpfs with the standard device nodes, devpts, /dev/shm, /dev/mqueue, a
// read-only /sys (with the container's cgroups under /sys/fs/cgroup), the
// generated /etc/hostname, /etc/hosts and /etc/resolv.conf, volumes and
// tmpfs mounts, and docker's masked and read-only paths — as a list of
// MountSteps for the spawn child, computed once in the daemon.
// Pure computation over strings; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/runtime/spec.h"

namespace berth::core::runtime {

struct BindMount {
  std::string source;       // host path
  std::string destination;  // path in the container
  bool readonly = false;
  bool recursive = true;
  std::string propagation;  // "", "private", "rprivate", "shared", ...
};

struct TmpfsMount {
  std::string destination;
  std::string options;  // docker's --tmpfs options ("rw,size=64m,mode=1777,noexec")
};

struct RootfsPlan {
  std::string rootfs;          // where the overlay is mounted (host path)
  std::string hostname_file;   // generated files to bind over /etc/...
  std::string hosts_file;
  std::string resolv_file;
  int64_t shm_size = 64 << 20;
  bool privileged = false;
  bool host_network = false;   // /sys must then be bound, not mounted
  bool cgroup_v2 = false;
  // v1: controller name -> the container's cgroup dir in that hierarchy.
  std::vector<std::pair<std::string, std::string>> cgroup_dirs_v1;
  std::vector<BindMount> binds;
  std::vector<TmpfsMount> tmpfs;
  std::vector<std::string> masked_paths;    // docker's defaults unless set
  std::vector<std::string> readonly_paths;  // idem
};

// docker's defaults (see ../shared/reference/docker-defaults.md).
std::vector<std::string> default_masked_paths();
std::vector<std::string> default_readonly_paths();

// The steps, in order. Mount points missing in the image are created.
std::vector<MountStep> plan_mounts(const RootfsPlan& p);

// Parses docker's tmpfs options into mount flags and data; "size=64m" etc.
// Errors name the bad option.
struct TmpfsOptions {
  unsigned long flags = 0;
  std::string data;
};
bool parse_tmpfs_options(const std::string& opts, TmpfsOptions* out, std::string* error);

}  // namespace berth::core::runtime
