#include "core/sys/host.h"

#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/base/strings.h"

namespace berth::sys {

std::string read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

static bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

static std::string os_release_value(const std::string& text, std::string_view key) {
  for (std::string_view line : split(text, '\n')) {
    auto kv = split_once(line, '=');
    if (!kv || kv->first != key) continue;
    std::string_view v = trim(kv->second);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return {};
}

HostInfo gather_host_info(const std::string& root) {
  HostInfo h;
  struct utsname u;
  if (::uname(&u) == 0) {
    h.kernel_version = u.release;
    h.architecture = u.machine;
    h.hostname = u.nodename;
  }
  if (h.architecture == "x86_64")
    h.go_arch = "amd64";
  else if (h.architecture == "aarch64")
    h.go_arch = "arm64";
  else
    h.go_arch = h.architecture;

  std::string osr = read_small_file(root + "/etc/os-release");
  if (osr.empty()) osr = read_small_file(root + "/usr/lib/os-release");
  h.operating_system = os_release_value(osr, "PRETTY_NAME");
  if (h.operating_system.empty()) h.operating_system = "Linux";
  h.os_version = os_release_value(osr, "VERSION_ID");

  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  h.ncpu = n > 0 ? static_cast<int>(n) : static_cast<int>(std::thread::hardware_concurrency());

  std::string meminfo = read_small_file(root + "/proc/meminfo");
  for (std::string_view line : split(meminfo, '\n')) {
    if (!line.starts_with("MemTotal:")) continue;
    std::string_view v = trim(line.substr(9));
    if (v.ends_with("kB")) v = trim(v.substr(0, v.size() - 2));
    h.mem_total = parse_number<int64_t>(v).value_or(0) * 1024;
  }

  const std::string cg = root + "/sys/fs/cgroup";
  struct statfs sfs;
  bool unified =
      ::statfs(cg.c_str(), &sfs) == 0 && sfs.f_type == 0x63677270;  // CGROUP2_SUPER_MAGIC
  if (!root.empty()) unified = exists(cg + "/cgroup.controllers");
  if (unified) {
    h.cgroup_version = 2;
    std::string ctrl = read_small_file(cg + "/cgroup.controllers");
    auto has = [&](std::string_view c) {
      for (auto w : split(trim(ctrl), ' '))
        if (w == c) return true;
      return false;
    };
    h.memory_limit = has("memory");
    h.swap_limit = h.memory_limit;
    h.cpu_cfs_period = h.cpu_cfs_quota = h.cpu_shares = has("cpu");
    h.cpuset = has("cpuset");
    h.pids_limit = has("pids");
    h.oom_kill_disable = false;  // v2 has no oom_control
  } else {
    h.cgroup_version = 1;
    h.memory_limit = exists(cg + "/memory/memory.limit_in_bytes");
    h.swap_limit = exists(cg + "/memory/memory.memsw.limit_in_bytes");
    h.cpu_cfs_period = exists(cg + "/cpu/cpu.cfs_period_us");
    h.cpu_cfs_quota = exists(cg + "/cpu/cpu.cfs_quota_us");
    h.cpu_shares = exists(cg + "/cpu/cpu.shares");
    h.cpuset = exists(cg + "/cpuset/cpuset.cpus");
    h.pids_limit = exists(cg + "/pids/pids.max") || exists(cg + "/pids");
    h.oom_kill_disable = exists(cg + "/memory/memory.oom_control");
  }
  h.ipv4_forwarding = trim(read_small_file(root + "/proc/sys/net/ipv4/ip_forward")) == "1";
  h.bridge_nf_iptables =
      trim(read_small_file(root + "/proc/sys/net/bridge/bridge-nf-call-iptables")) == "1";
  h.bridge_nf_ip6tables =
      trim(read_small_file(root + "/proc/sys/net/bridge/bridge-nf-call-ip6tables")) == "1";
  return h;
}

}  // namespace berth::sys

#include <dirent.h>

namespace berth::sys {

int count_open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;
  int n = 0;
  while (struct dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n > 0 ? n - 1 : 0;  // minus the directory's own fd
}

int count_threads() {
  std::string status = read_small_file("/proc/self/status");
  for (std::string_view line : split(status, '\n'))
    if (line.starts_with("Threads:")) return parse_number<int>(trim(line.substr(8))).value_or(0);
  return 0;
}

std::string filesystem_name(const std::string& path) {
  struct statfs s;
  if (::statfs(path.c_str(), &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53: return "extfs";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794C7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0x6969: return "nfs";
    case 0xF2F52010: return "f2fs";
    default: return "unknown";
  }
}

}  // namespace berth::sys
