#include "core/runtime/spawn.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/base/strings.h"
#include "core/sys/syscalls.h"

namespace berth::core::runtime {

uint64_t monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

int loopback_up() noexcept {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return -1;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, "lo", 3);
  int rc = ::ioctl(sock, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ::ioctl(sock, SIOCSIFFLAGS, &ifr);
  }
  int err = errno;
  ::close(sock);
  errno = err;
  return rc == 0 ? 0 : -1;
}

void SpawnSpec::build() {
  argv_ptrs.clear();
  for (const auto& a : argv) argv_ptrs.push_back(a.c_str());
  argv_ptrs.push_back(nullptr);
  env_ptrs.clear();
  for (const auto& e : env) env_ptrs.push_back(e.c_str());
  env_ptrs.push_back(nullptr);
}

namespace {

struct ChildError {
  uint32_t step;
  int32_t err;
  int32_t index;
};

struct ChildArgs {
  const SpawnSpec* spec;
  int sync_fd;
  SpawnTimes* times;
};

// --- the child: raw syscalls over precomputed data only ---------------------------

[[noreturn]] void child_fail(int sync_fd, SpawnStep step, int err, int index = -1) {
  ChildError e{static_cast<uint32_t>(step), err, index};
  [[maybe_unused]] ssize_t w = ::write(sync_fd, &e, sizeof e);
  ::_exit(step == SpawnStep::exec ? (err == ENOENT || err == ENOTDIR ? 127 : 126) : 127);
}

int send_fd(int sock, int fd) {
  char dummy = 'p';
  iovec iov{&dummy, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int do_mount_step(const MountStep& m) {
  switch (m.kind) {
    case MountStep::Kind::mount:
      return ::mount(m.source.c_str(), m.target.c_str(), m.fstype.c_str(), m.flags,
                     m.data.empty() ? nullptr : m.data.c_str());
    case MountStep::Kind::bind:
      return ::mount(m.source.c_str(), m.target.c_str(), nullptr, MS_BIND | (m.flags & MS_REC),
                     nullptr);
    case MountStep::Kind::remount:
      return ::mount(nullptr, m.target.c_str(), nullptr, MS_REMOUNT | MS_BIND | m.flags, nullptr);
    case MountStep::Kind::mknod:
      if (::mknod(m.target.c_str(), m.mode, m.dev) != 0) return errno == EEXIST ? 0 : -1;
      // Created under the daemon's umask: set the mode exactly (only on
      // what we made, so an image's own file is not copied up).
      return ::chmod(m.target.c_str(), m.mode & 07777);
    case MountStep::Kind::symlink:
      if (::symlink(m.source.c_str(), m.target.c_str()) != 0 && errno != EEXIST) return -1;
      return 0;
    case MountStep::Kind::mkdir:
      if (::mkdir(m.target.c_str(), m.mode) != 0 && errno != EEXIST) return -1;
      return 0;
    case MountStep::Kind::mask: {
      struct stat st;
      if (::lstat(m.target.c_str(), &st) != 0) return -1;
      if (S_ISDIR(st.st_mode))
        return ::mount("tmpfs", m.target.c_str(), "tmpfs", MS_RDONLY, "size=0,mode=0755");
      return ::mount("/dev/null", m.target.c_str(), nullptr, MS_BIND, nullptr);
    }
  }
  errno = EINVAL;
  return -1;
}

int mount_overlay(const SpawnSpec& s) {
  if (!s.overlay_options.empty())
    return ::mount("overlay", s.rootfs.c_str(), "overlay", 0, s.overlay_options.c_str());
  // Too many layers for one page of options: add them one by one.
  int fs = sys::fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) return -1;
  for (const auto& l : s.lower_dirs)
    if (sys::fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", l.c_str(), 0) != 0) return -1;
  if (!s.upper_dir.empty()) {
    if (sys::fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", s.upper_dir.c_str(), 0) != 0) return -1;
    if (sys::fsconfig(fs, FSCONFIG_SET_STRING, "workdir", s.work_dir.c_str(), 0) != 0) return -1;
  }
  if (sys::fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return -1;
  int mnt = sys::fsmount(fs, FSMOUNT_CLOEXEC, 0);
  if (mnt < 0) return -1;
  return sys::move_mount(mnt, "", AT_FDCWD, s.rootfs.c_str(), MOVE_MOUNT_F_EMPTY_PATH);
}

int child_main(void* raw) {
  auto* a = static_cast<ChildArgs*>(raw);
  const SpawnSpec& s = *a->spec;
  const int sfd = a->sync_fd;
  a->times->child = monotonic_ns();

  // Join the container's cgroups first: the setup counts against them.
  for (int fd : s.cgroup_procs_fds)
    if (::write(fd, "0", 1) != 1) child_fail(sfd, SpawnStep::cgroup, errno);
  a->times->cgroup = monotonic_ns();

  // The daemon blocks SIGTERM/SIGINT (signalfd) and ignores SIGPIPE; the
  // container starts with a clean signal state.
  sigset_t none;
  sigemptyset(&none);
  if (::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, _NSIG / 8) != 0)
    child_fail(sfd, SpawnStep::signals, errno);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);

  if (::setsid() < 0) child_fail(sfd, SpawnStep::session, errno);
  if (!s.tty) {
    int null_fd = -1;
    if (s.stdin_fd < 0 || s.stdout_fd < 0 || s.stderr_fd < 0) {
      null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null_fd < 0) child_fail(sfd, SpawnStep::stdio, errno);
    }
    int in = s.stdin_fd >= 0 ? s.stdin_fd : null_fd;
    int out = s.stdout_fd >= 0 ? s.stdout_fd : null_fd;
    int err = s.stderr_fd >= 0 ? s.stderr_fd : null_fd;
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0)
      child_fail(sfd, SpawnStep::stdio, errno);
  }

  if (s.clone_flags & CLONE_NEWNS) {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      child_fail(sfd, SpawnStep::mount_private, errno);
    if (!s.rootfs.empty() && (!s.overlay_options.empty() || !s.lower_dirs.empty()))
      if (mount_overlay(s) != 0) child_fail(sfd, SpawnStep::rootfs, errno);
  }
  a->times->rootfs = monotonic_ns();
  if (s.join_netns >= 0 && ::setns(s.join_netns, CLONE_NEWNET) != 0)
    child_fail(sfd, SpawnStep::netns, errno);
  if (s.loopback_up && loopback_up() != 0) child_fail(sfd, SpawnStep::netns, errno);

  for (size_t i = 0; i < s.mounts.size(); ++i) {
    const MountStep& m = s.mounts[i];
    if (do_mount_step(m) != 0 && !(m.optional && errno == ENOENT))
      child_fail(sfd, SpawnStep::mounts, errno, static_cast<int>(i));
  }
  a->times->mounts = monotonic_ns();

  if (s.tty) {
    // The pty lives in the container's own devpts instance.
    char ptmx[4096];
    size_t n = s.rootfs.size();
    if (n + 16 > sizeof ptmx) child_fail(sfd, SpawnStep::tty, ENAMETOOLONG);
    std::memcpy(ptmx, s.rootfs.data(), n);
    std::memcpy(ptmx + n, "/dev/pts/ptmx", 14);
    int master = ::open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) child_fail(sfd, SpawnStep::tty, errno);
    int unlock = 0;
    if (::ioctl(master, TIOCSPTLCK, &unlock) != 0) child_fail(sfd, SpawnStep::tty, errno);
    int slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0) child_fail(sfd, SpawnStep::tty, errno);
    if (::dup2(slave, 0) < 0 || ::dup2(slave, 1) < 0 || ::dup2(slave, 2) < 0)
      child_fail(sfd, SpawnStep::tty, errno);
    if (::ioctl(0, TIOCSCTTY, 0) != 0) child_fail(sfd, SpawnStep::tty, errno);
    if (send_fd(s.console_socket, master) != 0) child_fail(sfd, SpawnStep::tty, errno);
    ::close(master);
    ::close(slave);
  }

  if (!s.rootfs.empty() && (s.clone_flags & CLONE_NEWNS)) {
    if (::chdir(s.rootfs.c_str()) != 0 || sys::pivot_root(".", ".") != 0 ||
        ::umount2(".", MNT_DETACH) != 0 || ::chdir("/") != 0)
      child_fail(sfd, SpawnStep::pivot_root, errno);
    if (s.readonly_rootfs &&
        ::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
      child_fail(sfd, SpawnStep::readonly_root, errno);
  }
  a->times->pivot = monotonic_ns();

  if ((s.clone_flags & CLONE_NEWUTS) && !s.hostname.empty())
    if (::sethostname(s.hostname.c_str(), s.hostname.size()) != 0)
      child_fail(sfd, SpawnStep::hostname, errno);
  for (const auto& r : s.rlimits)
    if (::syscall(SYS_prlimit64, 0, r.resource, &r.value, nullptr) != 0)
      child_fail(sfd, SpawnStep::rlimits, errno);
  if (s.set_oom_score_adj) {
    char buf[16];
    int v = s.oom_score_adj, len = 0;
    char tmp[16];
    bool neg = v < 0;
    unsigned u = neg ? static_cast<unsigned>(-v) : static_cast<unsigned>(v);
    do {
      tmp[len++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u);
    int k = 0;
    if (neg) buf[k++] = '-';
    while (len) buf[k++] = tmp[--len];
    int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, buf, static_cast<size_t>(k)) != k)
      child_fail(sfd, SpawnStep::oom_score, errno);
    ::close(fd);
  }
  for (const auto& d : s.workdir_create)
    if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST)
      child_fail(sfd, SpawnStep::workdir, errno);
  if (::chdir(s.cwd.c_str()) != 0) child_fail(sfd, SpawnStep::workdir, errno);

  // Seccomp without no_new_privs needs CAP_SYS_ADMIN: install it while we
  // still have it (docker's profiles allow the identity calls that follow).
  const bool filter = s.seccomp && !s.seccomp->unconfined();
  if (filter && !s.no_new_privileges)
    if (int e = apply_in_child(*s.seccomp); e != 0) child_fail(sfd, SpawnStep::seccomp, e);
  // runc's order: drop from the bounding set (needs CAP_SETPCAP), switch
  // user keeping permitted caps, then set the final sets.
  if (s.apply_caps)
    if (int e = drop_bounding_in_child(s.caps); e != 0) child_fail(sfd, SpawnStep::caps, e);
  if (int e = apply_in_child(s.user); e != 0) child_fail(sfd, SpawnStep::uid, e);
  if (s.apply_caps)
    if (int e = set_in_child(s.caps); e != 0) child_fail(sfd, SpawnStep::caps, e);
  if (s.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    child_fail(sfd, SpawnStep::no_new_privs, errno);
  if (filter && s.no_new_privileges)
    if (int e = apply_in_child(*s.seccomp); e != 0) child_fail(sfd, SpawnStep::seccomp, e);

  a->times->exec = monotonic_ns();
  int last = ENOENT;
  for (const auto& p : s.exec_paths) {
    ::execve(p.c_str(), const_cast<char* const*>(s.argv_ptrs.data()),
             const_cast<char* const*>(s.env_ptrs.data()));
    // Like Go's LookPath: a candidate that exists but cannot run is the
    // error to report, unless a later one works.
    if (errno != ENOENT && errno != ENOTDIR) last = errno;
  }
  child_fail(sfd, SpawnStep::exec, last);
}

// A stack for the child, one per spawning thread (the thread is suspended
// while its child uses it).
constexpr size_t kChildStack = 256 * 1024;
alignas(64) thread_local char t_stack[kChildStack];

std::string step_name(SpawnStep s) {
  switch (s) {
    case SpawnStep::cgroup: return "join cgroup";
    case SpawnStep::signals: return "reset signals";
    case SpawnStep::stdio: return "set up stdio";
    case SpawnStep::session: return "setsid";
    case SpawnStep::mount_private: return "make mounts private";
    case SpawnStep::rootfs: return "mount rootfs";
    case SpawnStep::netns: return "join network namespace";
    case SpawnStep::mounts: return "mount";
    case SpawnStep::tty: return "set up terminal";
    case SpawnStep::pivot_root: return "pivot_root";
    case SpawnStep::readonly_root: return "make rootfs read-only";
    case SpawnStep::hostname: return "set hostname";
    case SpawnStep::rlimits: return "set rlimits";
    case SpawnStep::oom_score: return "set oom_score_adj";
    case SpawnStep::workdir: return "chdir to working directory";
    case SpawnStep::groups: return "setgroups";
    case SpawnStep::gid: return "setgid";
    case SpawnStep::uid: return "setuid";
    case SpawnStep::caps: return "apply capabilities";
    case SpawnStep::no_new_privs: return "set no_new_privs";
    case SpawnStep::seccomp: return "load seccomp filter";
    case SpawnStep::exec: return "exec";
  }
  return "start";
}

int recv_fd(int sock) {
  char dummy;
  iovec iov{&dummy, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  if (::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) < 0) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) {
    errno = EPROTO;
    return -1;
  }
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

}  // namespace

Result<Spawned> spawn(const SpawnSpec& spec) {
  if (spec.argv_ptrs.empty() || spec.argv.empty())
    return fail(Errc::invalid_argument, "no command to run");
  // Non-blocking: a child that failed has written its error before it
  // exits, and the vfork'd parent resumes only after that exit or an exec;
  // so an empty pipe means the exec happened, without waiting for the child
  // to get as far as closing its end.
  int sync[2];
  if (::pipe2(sync, O_CLOEXEC | O_NONBLOCK) != 0) return sys_fail(errno, "pipe");
  unique_fd sync_r(sync[0]), sync_w(sync[1]);

  Spawned out;
  ChildArgs args{&spec, sync_w.get(), &out.times};
  int pidfd = -1;
  out.times.clone = monotonic_ns();
  pid_t pid =
      ::clone(child_main, t_stack + kChildStack,
              CLONE_VM | CLONE_VFORK | CLONE_PIDFD | spec.clone_flags | SIGCHLD, &args, &pidfd);
  out.times.returned = monotonic_ns();
  if (pid < 0) return sys_fail(errno, "clone");
  out.pid = pid;
  out.pidfd.reset(pidfd);
  sync_w.reset();

  ChildError ce{};
  ssize_t n = ::read(sync_r.get(), &ce, sizeof ce);
  if (n == static_cast<ssize_t>(sizeof ce)) {
    siginfo_t si{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
    auto step = static_cast<SpawnStep>(ce.step);
    if (step == SpawnStep::exec) {
      const std::string& cmd = spec.argv[0];
      if (ce.err == ENOENT || ce.err == ENOTDIR) {
        if (cmd.find('/') == std::string::npos)
          return fail(Errc::invalid_argument,
                      str_cat("exec: \"", cmd, "\": executable file not found in $PATH"));
        return fail(Errc::invalid_argument,
                    str_cat("exec: \"", cmd, "\": stat ", cmd, ": no such file or directory"));
      }
      return std::unexpected(
          Error{Errc::invalid_argument, ce.err,
                str_cat("exec: \"", cmd, "\": ", to_lower(std::strerror(ce.err)))});
    }
    std::string what = step_name(step);
    if (step == SpawnStep::mounts && ce.index >= 0 &&
        static_cast<size_t>(ce.index) < spec.mounts.size())
      what = str_cat("mount ", spec.mounts[static_cast<size_t>(ce.index)].target);
    return std::unexpected(sys_error(ce.err, "start container process: " + what));
  }
  if (spec.tty) {
    int master = recv_fd(spec.console_receive);
    if (master < 0) {
      int e = errno;
      sys::pidfd_send_signal(pidfd, SIGKILL);
      siginfo_t si{};
      ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
      return sys_fail(e, "receive the container's terminal");
    }
    out.tty_master.reset(master);
  }
  return out;
}

}  // namespace berth::core::runtime
