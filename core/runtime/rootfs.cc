#include "core/runtime/rootfs.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "core/base/strings.h"

namespace berth::core::runtime {

std::vector<std::string> default_masked_paths() {
  return {"/proc/asound",        "/proc/acpi",          "/proc/interrupts", "/proc/kcore",
          "/proc/keys",          "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
          "/proc/sched_debug",   "/proc/scsi",          "/sys/firmware",
          "/sys/devices/virtual/powercap"};
}

std::vector<std::string> default_readonly_paths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

bool parse_tmpfs_options(const std::string& opts, TmpfsOptions* out, std::string* error) {
  std::vector<std::string> data;
  out->flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;  // docker's tmpfs defaults
  for (std::string_view o : split(opts, ',')) {
    o = trim(o);
    if (o.empty()) continue;
    if (o == "ro") out->flags |= MS_RDONLY;
    else if (o == "rw") out->flags &= ~static_cast<unsigned long>(MS_RDONLY);
    else if (o == "exec") out->flags &= ~static_cast<unsigned long>(MS_NOEXEC);
    else if (o == "noexec") out->flags |= MS_NOEXEC;
    else if (o == "suid") out->flags &= ~static_cast<unsigned long>(MS_NOSUID);
    else if (o == "nosuid") out->flags |= MS_NOSUID;
    else if (o == "dev") out->flags &= ~static_cast<unsigned long>(MS_NODEV);
    else if (o == "nodev") out->flags |= MS_NODEV;
    else if (o == "sync") out->flags |= MS_SYNCHRONOUS;
    else if (o == "noatime") out->flags |= MS_NOATIME;
    else if (o == "nodiratime") out->flags |= MS_NODIRATIME;
    else if (o == "relatime") out->flags |= MS_RELATIME;
    else if (o == "strictatime") out->flags |= MS_STRICTATIME;
    else if (o.starts_with("size=") || o.starts_with("mode=") || o.starts_with("uid=") ||
             o.starts_with("gid=") || o.starts_with("nr_inodes=") || o.starts_with("nr_blocks="))
      data.emplace_back(o);
    else {
      *error = str_cat("invalid tmpfs option \"", o, "\"");
      return false;
    }
  }
  out->data = join(data, ",");
  return true;
}

std::vector<MountStep> plan_mounts(const RootfsPlan& p) {
  using K = MountStep::Kind;
  const std::string& r = p.rootfs;
  std::vector<MountStep> m;
  auto add = [&](K kind, std::string source, std::string target, std::string fstype,
                 unsigned long flags, std::string data, bool optional = false) {
    MountStep s;
    s.kind = kind;
    s.source = std::move(source);
    s.target = std::move(target);
    s.fstype = std::move(fstype);
    s.flags = flags;
    s.data = std::move(data);
    s.optional = optional;
    m.push_back(std::move(s));
  };
  auto mkdir = [&](const std::string& path, mode_t mode = 0755) {
    MountStep s;
    s.kind = K::mkdir;
    s.target = path;
    s.mode = mode;
    m.push_back(std::move(s));
  };
  auto mknod = [&](const char* name, unsigned maj, unsigned min) {
    MountStep s;
    s.kind = K::mknod;
    s.target = r + "/dev/" + name;
    s.mode = S_IFCHR | 0666;
    s.dev = makedev(maj, min);
    m.push_back(std::move(s));
  };
  auto symlink = [&](const char* from, const char* to) {
    MountStep s;
    s.kind = K::symlink;
    s.source = from;
    s.target = r + "/dev/" + to;
    m.push_back(std::move(s));
  };

  mkdir(r + "/proc");
  add(K::mount, "proc", r + "/proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, "");
  mkdir(r + "/dev");
  add(K::mount, "tmpfs", r + "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  mknod("null", 1, 3);
  mknod("zero", 1, 5);
  mknod("full", 1, 7);
  mknod("random", 1, 8);
  mknod("urandom", 1, 9);
  mknod("tty", 5, 0);
  symlink("/proc/self/fd", "fd");
  symlink("/proc/self/fd/0", "stdin");
  symlink("/proc/self/fd/1", "stdout");
  symlink("/proc/self/fd/2", "stderr");
  symlink("pts/ptmx", "ptmx");
  symlink("/proc/kcore", "core");
  mkdir(r + "/dev/pts");
  add(K::mount, "devpts", r + "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
      "newinstance,ptmxmode=0666,mode=0620,gid=5");
  mkdir(r + "/dev/shm", 01777);
  add(K::mount, "shm", r + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
      str_cat("mode=1777,size=", p.shm_size));
  mkdir(r + "/dev/mqueue");
  add(K::mount, "mqueue", r + "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");

  mkdir(r + "/sys");
  unsigned long sys_ro = p.privileged ? 0 : MS_RDONLY;
  if (p.host_network) {
    // sysfs can only be mounted in a network namespace of one's own.
    add(K::bind, "/sys", r + "/sys", "", MS_REC, "");
    if (sys_ro) add(K::remount, "", r + "/sys", "", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
  } else {
    add(K::mount, "sysfs", r + "/sys", "sysfs", sys_ro | MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
  }
  if (p.cgroup_v2) {
    add(K::mount, "cgroup", r + "/sys/fs/cgroup", "cgroup2",
        sys_ro | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME, "");
  } else if (!p.cgroup_dirs_v1.empty()) {
    add(K::mount, "tmpfs", r + "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
        "mode=755");
    for (const auto& [ctrl, dir] : p.cgroup_dirs_v1) {
      std::string t = r + "/sys/fs/cgroup/" + ctrl;
      mkdir(t);
      add(K::bind, dir, t, "", 0, "");
      if (sys_ro) add(K::remount, "", t, "", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
    }
    if (sys_ro)
      add(K::remount, "", r + "/sys/fs/cgroup", "", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
  }

  // /etc/hostname, /etc/hosts, /etc/resolv.conf: docker's generated files.
  auto bind_file = [&](const std::string& src, const char* dest) {
    if (src.empty()) return;
    mkdir(r + "/etc");
    MountStep touch;
    touch.kind = K::mknod;  // a regular file as mount point
    touch.target = r + dest;
    touch.mode = S_IFREG | 0644;
    m.push_back(std::move(touch));
    add(K::bind, src, r + dest, "", 0, "");
  };
  bind_file(p.hostname_file, "/etc/hostname");
  bind_file(p.hosts_file, "/etc/hosts");
  bind_file(p.resolv_file, "/etc/resolv.conf");

  for (const auto& b : p.binds) {
    std::string t = r + b.destination;
    add(K::bind, b.source, t, "", b.recursive ? MS_REC : 0, "");
    if (b.readonly) add(K::remount, "", t, "", MS_RDONLY, "");
  }
  for (const auto& t : p.tmpfs) {
    TmpfsOptions o;
    std::string err;
    parse_tmpfs_options(t.options, &o, &err);  // validated when the container was created
    mkdir(r + t.destination);
    add(K::mount, "tmpfs", r + t.destination, "tmpfs", o.flags, o.data);
  }

  if (!p.privileged) {
    for (const auto& path : p.masked_paths) add(K::mask, "", r + path, "", 0, "", true);
    for (const auto& path : p.readonly_paths) {
      add(K::bind, r + path, r + path, "", MS_REC, "", true);
      add(K::remount, "", r + path, "", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "", true);
    }
  }
  return m;
}

}  // namespace berth::core::runtime
