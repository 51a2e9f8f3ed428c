// Facts about the host the daemon runs on, read once at startup for
// /info and /version: kernel, OS release, CPUs, memory, cgroup layout.
// gather() reads /proc, /sys and /etc (blocking, cheap); the result is a
// plain value.
#pragma once

#include <cstdint>
#include <string>

namespace berth::sys {

struct HostInfo {
  std::string kernel_version;    // uname -r
  std::string operating_system;  // PRETTY_NAME from os-release
  std::string os_version;        // VERSION_ID
  std::string architecture;      // uname -m (x86_64)
  std::string go_arch;           // GOARCH spelling (amd64), as docker reports Arch
  std::string hostname;
  int ncpu = 0;
  int64_t mem_total = 0;
  int cgroup_version = 1;  // 2 when /sys/fs/cgroup is the unified hierarchy
  bool memory_limit = false;
  bool swap_limit = false;
  bool cpu_cfs_period = false;
  bool cpu_cfs_quota = false;
  bool cpu_shares = false;
  bool cpuset = false;
  bool pids_limit = false;
  bool oom_kill_disable = false;
  bool ipv4_forwarding = false;
  bool bridge_nf_iptables = false;
  bool bridge_nf_ip6tables = false;
};

// root: where /proc, /sys and /etc are (tests pass a fake tree); "" is "/".
HostInfo gather_host_info(const std::string& root = "");

// Reads a small file whole; "" when missing.
std::string read_small_file(const std::string& path);

}  // namespace berth::sys

namespace berth::sys {
// Open file descriptors and threads of this process (for /info).
int count_open_fds();
int count_threads();
// Filesystem type name of path ("extfs", "tmpfs", "xfs", "btrfs", ...).
std::string filesystem_name(const std::string& path);
}  // namespace berth::sys
