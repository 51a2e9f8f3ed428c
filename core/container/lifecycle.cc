// ContainerManager: start, the watchers (exit, output, OOM), stop, kill,
// pause, wait, remove, attach and stdin.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/container/manager.h"
#include "core/runtime/caps.h"
#include "core/runtime/rootfs.h"
#include "core/runtime/seccomp_cache.h"
#include "core/runtime/spawn.h"
#include "core/runtime/user_files.h"
#include "core/sys/host.h"
#include "core/sys/syscalls.h"
#include "io/event.h"
#include "io/pool.h"
#include "io/reactor.h"

namespace berth::core::container {

using namespace std::chrono_literals;
namespace rt = runtime;

namespace {

int64_t now_ns() {
  return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
}

std::string env_value(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& e : env)
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=')
      return e.substr(key.size() + 1);
  return {};
}

bool has_env(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& e : env)
    if (std::string_view(e).substr(0, e.find('=')) == key) return true;
  return false;
}

int signal_number(std::string_view s) {
  if (s.empty()) return SIGTERM;
  if (auto n = parse_number<int>(s)) return *n;
  std::string name = to_lower(s);
  if (name.starts_with("sig")) name = name.substr(3);
  static const std::pair<const char*, int> table[] = {
      {"hup", SIGHUP},       {"int", SIGINT},   {"quit", SIGQUIT},     {"ill", SIGILL},
      {"trap", SIGTRAP},     {"abrt", SIGABRT}, {"iot", SIGIOT},       {"bus", SIGBUS},
      {"fpe", SIGFPE},       {"kill", SIGKILL}, {"usr1", SIGUSR1},     {"segv", SIGSEGV},
      {"usr2", SIGUSR2},     {"pipe", SIGPIPE}, {"alrm", SIGALRM},     {"term", SIGTERM},
      {"stkflt", SIGSTKFLT}, {"chld", SIGCHLD}, {"cont", SIGCONT},     {"stop", SIGSTOP},
      {"tstp", SIGTSTP},     {"ttin", SIGTTIN}, {"ttou", SIGTTOU},     {"urg", SIGURG},
      {"xcpu", SIGXCPU},     {"xfsz", SIGXFSZ}, {"vtalrm", SIGVTALRM}, {"prof", SIGPROF},
      {"winch", SIGWINCH},   {"io", SIGIO},     {"poll", SIGPOLL},     {"pwr", SIGPWR},
      {"sys", SIGSYS}};
  for (const auto& [n, v] : table)
    if (name == n) return v;
  if (name.starts_with("rtmin+")) {
    if (auto k = parse_number<int>(name.substr(6))) return SIGRTMIN + *k;
  }
  return -1;
}

cgroup::Resources resources_of(const HostConfig& h) {
  cgroup::Resources r;
  if (h.memory) r.memory = h.memory;
  if (h.memory_swap) r.memory_swap = h.memory_swap;
  if (h.memory_reservation) r.memory_reservation = h.memory_reservation;
  if (h.cpu_shares) r.cpu_shares = h.cpu_shares;
  if (h.cpu_quota) r.cpu_quota = h.cpu_quota;
  if (h.cpu_period) r.cpu_period = h.cpu_period;
  if (h.nano_cpus) r.nano_cpus = h.nano_cpus;
  if (h.pids_limit) r.pids_limit = *h.pids_limit;
  r.cpuset_cpus = h.cpuset_cpus;
  r.cpuset_mems = h.cpuset_mems;
  r.oom_kill_disable = h.oom_kill_disable.value_or(false);
  if (h.privileged) r.devices.push_back(cgroup::DeviceRule::all(true));
  return r;
}

// Pipes the container writes into: O_CLOEXEC on our end only.
Result<std::pair<unique_fd, unique_fd>> make_pipe();

// Makes the container's stdin pipe unless one is waiting for the next start.
Result<void> ensure_stdin_pipe_locked(Container& c) {
  if (c.rt.stdin_reader) return {};
  auto [r, w] = BERTH_TRY(make_pipe());
  c.rt.stdin_reader = std::move(r);
  c.rt.stdin_writer = std::move(w);
  return {};
}

Result<std::pair<unique_fd, unique_fd>> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_fail(errno, "pipe");
  return std::pair{unique_fd(p[0]), unique_fd(p[1])};
}

}  // namespace

std::string StartTimes::header_value() const {
  const std::pair<const char*, uint64_t> phases[] = {
      {"queue", queue},  {"cgroup", cgroup}, {"prepare", prepare}, {"log", log},
      {"clone", clone},  {"join", join},     {"rootfs", rootfs},   {"mounts", mounts},
      {"pivot", pivot},  {"setup", setup},   {"exec", exec},       {"persist", persist},
      {"resume", resume}};
  std::string out;
  for (const auto& [name, ns] : phases) {
    if (!out.empty()) out += ',';
    out += str_cat(name, "=", ns / 1000);
  }
  return out;
}

struct ContainerManager::Prepared {
  rt::SpawnSpec spec;
  std::unique_ptr<cgroup::Cgroup> cgroup;
  std::vector<unique_fd> procs_fds;
  std::shared_ptr<const rt::SeccompProgram> seccomp;
  unique_fd netns;  // a ready network namespace the child joins
  unique_fd out_r, out_w, err_r, err_w, in_r, in_w, console_parent, console_child;
  StartTimes times;
};

Result<std::unique_ptr<ContainerManager::Prepared>> ContainerManager::prepare_start(
    const std::shared_ptr<Container>& c) {
  auto p = std::make_unique<Prepared>();
  uint64_t t0 = rt::monotonic_ns();
  Config cfg;
  HostConfig h;
  {
    std::lock_guard lock(c->mu);
    cfg = c->config;
    h = c->host;
  }
  // The cgroup: a leftover (a clean-up that failed) is replaced.
  const cgroup::Resources res = resources_of(h);
  cgroup::Manager* cgm = BERTH_TRY(cgroups_for(*c));
  auto cg = cgm->create(c->id, res);
  if (!cg && cg.error().sys_errno == EEXIST) {
    (void)cgm->remove(c->id);
    cg = cgm->create(c->id, res);
  }
  p->cgroup = BERTH_TRY(with_context(std::move(cg), "create cgroup"));
  p->procs_fds = BERTH_TRY(p->cgroup->procs_fds());
  p->times.cgroup = rt::monotonic_ns() - t0;

  rt::SpawnSpec& s = p->spec;
  // The user, from the image's (and the container's own) /etc/passwd.
  std::vector<std::string> layers{c->dir + "/upper"};
  layers.insert(layers.end(), c->layer_dirs.begin(), c->layer_dirs.end());
  auto udb = BERTH_TRY(rt::read_user_database(layers));
  s.user = BERTH_TRY(rt::resolve_user(cfg.user, udb.passwd, udb.group, h.group_add));

  // Capabilities, no_new_privileges, seccomp.
  auto caps = BERTH_TRY(
      rt::tweak_capabilities(rt::default_capabilities(), h.cap_add, h.cap_drop, h.privileged));
  s.caps = rt::container_cap_sets(caps, s.user.uid);
  s.apply_caps = true;
  std::string profile;
  bool unconfined = h.privileged;
  for (const auto& so : h.security_opt) {
    if (so == "no-new-privileges" || so == "no-new-privileges=true" ||
        so == "no-new-privileges:true")
      s.no_new_privileges = true;
    if (so.starts_with("seccomp=") || so.starts_with("seccomp:")) {
      std::string v = so.substr(8);
      if (v == "unconfined")
        unconfined = true;
      else
        profile = v;
    }
  }
  if (!unconfined) {
    p->seccomp = BERTH_TRY(with_context(
        rt::SeccompCache::shared().get(profile, s.caps.bounding, h.privileged), "seccomp profile"));
    s.seccomp = p->seccomp.get();
  }

  // The process: argv, environment, the command's candidates on PATH.
  s.argv.push_back(c->path);
  s.argv.insert(s.argv.end(), c->args.begin(), c->args.end());
  s.env = cfg.env;
  if (!has_env(s.env, "PATH"))
    s.env.insert(s.env.begin(),
                 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  s.env.push_back("HOSTNAME=" + cfg.hostname);
  if (cfg.tty && !has_env(s.env, "TERM")) s.env.push_back("TERM=xterm");
  if (!has_env(s.env, "HOME")) s.env.push_back("HOME=" + s.user.home);
  if (c->path.find('/') != std::string::npos) {
    s.exec_paths.push_back(c->path);
  } else {
    const std::string path_value = env_value(s.env, "PATH");
    for (auto dir : split(path_value, ':')) {
      if (dir.empty()) dir = ".";
      s.exec_paths.push_back(str_cat(dir, "/", c->path));
    }
  }
  s.cwd = cfg.working_dir.empty() ? "/" : cfg.working_dir;
  if (!cfg.working_dir.empty()) {
    std::string acc;
    for (auto part : split(cfg.working_dir, '/')) {
      if (part.empty()) continue;
      acc += "/";
      acc += part;
      s.workdir_create.push_back(acc);
    }
  }
  s.hostname = cfg.hostname;
  s.oom_score_adj = h.oom_score_adj;
  s.set_oom_score_adj = h.oom_score_adj != 0;
  // rlimits: docker's nofile default, clamped to what this daemon may give.
  bool nofile_set = false;
  for (const auto& u : h.ulimits) {
    static const std::map<std::string, int> names = {
        {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
        {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
        {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
        {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
        {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
        {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
        {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
        {"stack", RLIMIT_STACK}};
    auto it = names.find(u.name);
    if (it == names.end()) continue;
    if (it->second == RLIMIT_NOFILE) nofile_set = true;
    s.rlimits.push_back({it->second, {static_cast<rlim_t>(u.soft), static_cast<rlim_t>(u.hard)}});
  }
  if (!nofile_set) {
    rlimit cur;
    ::getrlimit(RLIMIT_NOFILE, &cur);
    rlim_t want = 1048576;
    rlim_t v = cur.rlim_max == RLIM_INFINITY ? want : std::min(want, cur.rlim_max);
    s.rlimits.push_back({RLIMIT_NOFILE, {v, v}});
  }

  // Namespaces and network.
  std::string net = h.network_mode;
  bool host_net = net == "host";
  s.clone_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (h.pid_mode == "host") s.clone_flags &= ~CLONE_NEWPID;
  if (h.ipc_mode == "host") s.clone_flags &= ~CLONE_NEWIPC;
  if (h.uts_mode == "host") s.clone_flags &= ~CLONE_NEWUTS;
  if (!host_net) {
    p->netns = netns_pool_->take();
    if (p->netns) {
      s.join_netns = p->netns.get();
    } else {
      s.clone_flags |= CLONE_NEWNET;
      s.loopback_up = true;
    }
  }
  if (cgroups_->version() == cgroup::Version::v2 && h.cgroupns_mode != "host")
    s.clone_flags |= CLONE_NEWCGROUP;

  // The root file system and the mounts.
  s.rootfs = c->dir + "/merged";
  s.upper_dir = c->dir + "/upper";
  s.work_dir = c->dir + "/work";
  // Renamed directories and metadata-only copy-ups would hide changes from
  // a diff of the upper directory: keep both off where the kernel has them on.
  static const std::string extra = [] {
    std::string x;
    if (trim(sys::read_small_file("/sys/module/overlay/parameters/redirect_dir")) == "Y")
      x += ",redirect_dir=off";
    if (trim(sys::read_small_file("/sys/module/overlay/parameters/metacopy")) == "Y")
      x += ",metacopy=off";
    return x;
  }();
  s.overlay_options = "lowerdir=" + join(c->layer_dirs, ":") + ",upperdir=" + s.upper_dir +
                      ",workdir=" + s.work_dir + extra;
  if (s.overlay_options.size() > 4000) {
    s.overlay_options.clear();
    s.lower_dirs = c->layer_dirs;
  }
  s.readonly_rootfs = h.readonly_rootfs;
  rt::RootfsPlan plan;
  plan.rootfs = s.rootfs;
  plan.hostname_file = c->hostname_path;
  plan.hosts_file = c->hosts_path;
  plan.resolv_file = c->resolv_path;
  plan.shm_size = h.shm_size > 0 ? h.shm_size : 64 << 20;
  plan.privileged = h.privileged;
  plan.host_network = host_net;
  plan.cgroup_v2 = cgroups_->version() == cgroup::Version::v2;
  if (!plan.cgroup_v2) {
    for (const auto& d : p->cgroup->dirs()) {
      // /sys/fs/cgroup/<controller>/<path...>: the controller is the first
      // component below the cgroup root.
      std::string_view rest = d;
      auto pos = rest.find("/sys/fs/cgroup/");
      if (pos == std::string_view::npos) continue;
      rest = rest.substr(pos + 15);
      plan.cgroup_dirs_v1.emplace_back(std::string(rest.substr(0, rest.find('/'))), d);
    }
  }
  for (const auto& b : h.binds) {
    auto parts = split(b, ':');
    rt::BindMount m;
    m.source = std::string(parts[0]);
    m.destination = std::string(parts[1]);
    if (parts.size() > 2)
      for (auto o : split(parts[2], ',')) {
        if (o == "ro")
          m.readonly = true;
        else if (o == "rprivate" || o == "private" || o == "shared" || o == "rshared" ||
                 o == "slave" || o == "rslave")
          m.propagation = std::string(o);
      }
    plan.binds.push_back(std::move(m));
  }
  for (const auto& m : h.mounts) {
    if (m.type == "bind") {
      plan.binds.push_back({m.source, m.target, m.read_only, true, m.propagation});
    } else if (m.type == "tmpfs") {
      std::string o = m.read_only ? "ro" : "rw";
      if (m.tmpfs_size) o += str_cat(",size=", m.tmpfs_size);
      if (m.tmpfs_mode) {
        char mode[24];
        std::snprintf(mode, sizeof mode, ",mode=%o", m.tmpfs_mode);
        o += mode;
      }
      plan.tmpfs.push_back({m.target, o});
    }
  }
  for (const auto& [path, opts] : h.tmpfs) plan.tmpfs.push_back({path, opts});
  plan.masked_paths = h.masked_paths ? *h.masked_paths : rt::default_masked_paths();
  plan.readonly_paths = h.readonly_paths ? *h.readonly_paths : rt::default_readonly_paths();
  s.mounts = rt::plan_mounts(plan);
  for (const auto& fd : p->procs_fds) s.cgroup_procs_fds.push_back(fd.get());

  // Standard streams.
  if (cfg.tty) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
      return sys_fail(errno, "socketpair");
    p->console_parent.reset(sp[0]);
    p->console_child.reset(sp[1]);
    s.tty = true;
    s.console_socket = p->console_child.get();
    s.console_receive = p->console_parent.get();
  } else {
    auto [or_, ow] = BERTH_TRY(make_pipe());
    auto [er, ew] = BERTH_TRY(make_pipe());
    p->out_r = std::move(or_);
    p->out_w = std::move(ow);
    p->err_r = std::move(er);
    p->err_w = std::move(ew);
    s.stdout_fd = p->out_w.get();
    s.stderr_fd = p->err_w.get();
    if (cfg.open_stdin) {
      // The pipe may exist already: an attached client's input that came
      // before the start waits in it.
      std::lock_guard lock(c->mu);
      BERTH_TRY(ensure_stdin_pipe_locked(*c));
      p->in_r = std::move(c->rt.stdin_reader);
      s.stdin_fd = p->in_r.get();
    }
  }
  s.build();
  p->times.prepare = rt::monotonic_ns() - t0 - p->times.cgroup;
  return p;
}

io::Task<Result<void>> ContainerManager::start(std::shared_ptr<Container> c, StartTimes* times) {
  {
    std::lock_guard lock(c->mu);
    if (c->removed) co_return fail(Errc::not_found, "No such container: " + c->id);
    if (c->state.status == Status::paused)
      co_return fail(Errc::conflict, "cannot start a paused container, try unpause instead");
    if (c->state.running()) co_return fail(Errc::not_modified, "container already started");
    if (c->state.status == Status::removing)
      co_return fail(Errc::conflict, "container is marked for removal and cannot be started");
  }
  // The blocking part: cgroup, spec, clone (the child's setup blocks the
  // calling thread until exec), and the state row.
  struct Started {
    std::unique_ptr<Prepared> prep;
    uint64_t generation = 0;
  };
  ContainerManager* self = this;
  const uint64_t t_call = rt::monotonic_ns();
  auto call = [self, c, t_call]() -> Result<Started> {
    const uint64_t t_run = rt::monotonic_ns();
    auto prepared = self->prepare_start(c);
    if (!prepared) {
      // A step after the cgroup was made failed (e.g. an unknown user).
      if (auto cgm = self->cgroups_for(*c)) (void)(*cgm)->remove(c->id);
      return std::unexpected(prepared.error());
    }
    auto prep = std::move(*prepared);
    prep->times.queue = t_run - t_call;
    const uint64_t t_log = rt::monotonic_ns();
    {
      std::lock_guard lock(c->mu);
      if (!c->log) {
        LogWriterOptions lo = self->opts_.default_log;
        if (auto it = c->host.log_config.config.find("max-size");
            it != c->host.log_config.config.end())
          if (auto n = parse_size(it->second)) lo.max_size = *n;
        if (auto it = c->host.log_config.config.find("max-file");
            it != c->host.log_config.config.end())
          if (auto n = parse_number<int>(it->second)) lo.max_files = *n;
        auto w = LogWriter::open(c->log_dir, lo);
        if (!w) {
          (void)prep->cgroup->destroy();
          return std::unexpected(w.error());
        }
        c->log = std::make_unique<LogWriter>(std::move(*w));
      }
    }
    prep->times.log = rt::monotonic_ns() - t_log;
    auto sp = rt::spawn(prep->spec);
    if (!sp) {
      (void)prep->cgroup->destroy();
      return std::unexpected(sp.error());
    }
    const rt::SpawnTimes& st = sp->times;
    StartTimes& t = prep->times;
    t.clone = st.child - st.clone;
    t.join = st.cgroup - st.child;
    t.rootfs = st.rootfs - st.cgroup;
    t.mounts = st.mounts - st.rootfs;
    t.pivot = st.pivot - st.mounts;
    t.setup = st.exec - st.pivot;
    t.exec = st.returned - st.exec;
    // Running from here: the state is set and written in this same hop (the
    // watchers, started next on the reactor, are what can change it again).
    Started out{std::move(prep), 0};
    // Gone already (a zombie has no namespaces) when the command was quick:
    // then it was torn down before the exit, as without this.
    unique_fd mnt_ns(::open(str_cat("/proc/", sp->pid, "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
    {
      std::lock_guard lock(c->mu);
      c->rt.pidfd = std::move(sp->pidfd);
      c->rt.mnt_ns = std::move(mnt_ns);
      c->rt.cgroup = std::move(out.prep->cgroup);
      c->rt.tty_master = std::move(sp->tty_master);
      c->rt.generation += 1;
      out.generation = c->rt.generation;
      c->state.status = Status::running;
      c->state.pid = sp->pid;
      c->state.exit_code = 0;
      c->state.error.clear();
      c->state.oom_killed = false;
      c->state.stopped_by_user = false;
      c->state.started_at = now_ns();
      c->state.finished_at = 0;
    }
    self->persist_state(c);
    const uint64_t t_done = rt::monotonic_ns();
    t.persist = t_done - st.returned;
    t.resume = t_done;  // made relative on the reactor
    return out;
  };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    {
      std::lock_guard lock(c->mu);
      c->state.error = r.error().message;
      c->state.exit_code = contains(r.error().message, "executable file not found") ||
                                   contains(r.error().message, "no such file")
                               ? 127
                           : contains(r.error().message, "permission denied") ? 126
                                                                              : 128;
    }
    // Attached clients see the stream end, as after an exit.
    std::vector<std::shared_ptr<AttachSink>> sinks;
    bool auto_remove;
    {
      std::lock_guard lock(c->mu);
      sinks = c->sinks;
      auto_remove = c->host.auto_remove;
    }
    for (auto& s : sinks) {
      {
        std::lock_guard sl(s->mu);
        s->closed = true;
      }
      s->ready.notify_all();
    }
    auto call = [self, c] { self->persist_state(c); };
    co_await io::offload(std::move(call));
    c->changed.notify_all();
    // As docker: a container that asked to be removed when it stops is
    // removed when it cannot start (`docker run --rm` waits for that).
    if (auto_remove) {
      auto rm = co_await remove(c, true, false);
      if (!rm) log::warn("container ", c->short_id(), ": auto-remove: ", rm.error().message);
    }
    co_return std::unexpected(r.error());
  }
  Prepared& prep = *r->prep;
  const uint64_t generation = r->generation;
  // Our copies of the child's ends must go, or EOF never comes.
  prep.out_w.reset();
  prep.err_w.reset();
  prep.in_r.reset();
  prep.console_child.reset();

  // Watchers on this reactor: output, then exit.
  int pumps = 0;
  if (c->config.tty) {
    int master;
    {
      std::lock_guard lock(c->mu);
      master = ::dup(c->rt.tty_master.get());
    }
    pumps = 1;
    {
      std::lock_guard lock(c->mu);
      c->rt.pumps_running = pumps;
    }
    io::spawn(pump(c, master, 1, generation));
  } else {
    pumps = 2;
    {
      std::lock_guard lock(c->mu);
      c->rt.pumps_running = pumps;
    }
    io::spawn(pump(c, prep.out_r.release(), 1, generation));
    io::spawn(pump(c, prep.err_r.release(), 2, generation));
  }
  io::spawn(monitor(c, generation));
  prep.times.resume = rt::monotonic_ns() - prep.times.resume;
  if (times) *times = prep.times;
  c->changed.notify_all();
  co_return Result<void>{};
}

// Reads one output stream of the container into its log and its attached
// clients until EOF. Owns fd.
io::Task<void> ContainerManager::pump(std::shared_ptr<Container> c, int fd, int stream,
                                      uint64_t generation) {
  unique_fd owned(fd);
  std::string buf(64 * 1024, '\0');
  for (;;) {
    int n = co_await io::read(fd, buf.data(), buf.size());
    if (n <= 0) break;  // EOF, or EIO from a pty whose last user is gone
    std::string_view chunk(buf.data(), static_cast<size_t>(n));
    LogWriter* log;
    std::vector<std::shared_ptr<AttachSink>> sinks;
    {
      std::lock_guard lock(c->mu);
      log = c->log.get();
      sinks = c->sinks;
    }
    if (log) {
      auto w = co_await log->append_async(stream == 2 ? LogStream::err : LogStream::out,
                                          log_now_ns(), chunk);
      if (!w) log::warn("container ", c->short_id(), ": log: ", w.error().message);
    }
    for (auto& s : sinks) {
      if ((stream == 1 && !s->want_stdout) || (stream == 2 && !s->want_stderr)) continue;
      // Backpressure: a slow client holds the container's output, as docker.
      for (;;) {
        uint64_t t;
        {
          std::lock_guard lock(s->mu);
          if (s->closed || s->bytes < (4 << 20)) {
            if (!s->closed) {
              s->queue.emplace_back(stream, std::string(chunk));
              s->bytes += chunk.size();
            }
            break;
          }
          t = s->drained.ticket();
        }
        co_await s->drained.wait(t);
      }
      s->ready.notify_all();
    }
  }
  {
    std::lock_guard lock(c->mu);
    if (c->rt.generation == generation) c->rt.pumps_running -= 1;
  }
  c->changed.notify_all();
}

io::Task<void> ContainerManager::monitor(std::shared_ptr<Container> c, uint64_t generation) {
  int pidfd;
  int oom_fd = -1;
  unique_fd oom;
  {
    std::lock_guard lock(c->mu);
    pidfd = c->rt.pidfd.get();
    if (c->rt.cgroup)
      if (auto f = c->rt.cgroup->oom_event_fd()) oom = std::move(*f);
  }
  oom_fd = oom.get();
  (void)oom_fd;
  int res = co_await io::poll(pidfd, POLLIN);
  (void)res;
  siginfo_t si{};
  int exit_code = 255;
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED) == 0) {
    if (si.si_code == CLD_EXITED)
      exit_code = si.si_status;
    else
      exit_code = 128 + si.si_status;
  }
  // All output first: the pid namespace is gone with its init, so the pipes
  // reach EOF promptly.
  for (int i = 0; i < 1000; ++i) {
    uint64_t t;
    {
      std::lock_guard lock(c->mu);
      if (c->rt.generation != generation || c->rt.pumps_running <= 0) break;
      t = c->changed.ticket();
    }
    bool notified = co_await c->changed.wait_for(t, 5s);
    if (!notified) break;
  }
  co_await handle_exit(c, exit_code);
}

io::Task<void> ContainerManager::handle_exit(std::shared_ptr<Container> c, int exit_code) {
  ContainerManager* self = this;
  std::unique_ptr<cgroup::Cgroup> cg;
  bool auto_remove;
  {
    std::lock_guard lock(c->mu);
    auto_remove = c->host.auto_remove;
    cg = std::move(c->rt.cgroup);
    c->rt.pidfd.reset();
    if (!auto_remove) c->rt.mnt_ns.reset();  // else after the answer, by remove_files
    c->rt.stdin_writer.reset();
    c->rt.tty_master.reset();
  }
  bool oom = false;
  if (cg && auto_remove) {
    // The container goes next and never starts again: its cgroup goes
    // after the answer (one cgroupfs read now, no disk).
    auto n = cg->oom_kill_count();
    oom = n && *n > 0;
    std::shared_ptr<cgroup::Cgroup> doomed(std::move(cg));
    auto job = [doomed] {
      (void)doomed->kill_all(SIGKILL);
      if (auto d = doomed->destroy(); !d) log::warn("cgroup cleanup: ", d.error().message);
    };
    cleanup_later(std::move(job));
  } else if (cg) {
    auto cgp = cg.get();
    auto call = [cgp] {
      auto n = cgp->oom_kill_count();
      bool killed = n && *n > 0;
      (void)cgp->kill_all(SIGKILL);
      if (auto d = cgp->destroy(); !d) log::warn("cgroup cleanup: ", d.error().message);
      return killed;
    };
    oom = co_await io::offload(std::move(call));
  }
  std::string policy;
  int max_retry = 0;
  bool stopped_by_user;
  int restarts;
  int64_t started_at;
  {
    std::lock_guard lock(c->mu);
    c->state.status = Status::exited;
    c->state.exit_code = exit_code;
    c->state.oom_killed = oom;
    c->state.pid = 0;
    c->state.finished_at = now_ns();
    policy = c->host.restart_policy.name;
    max_retry = c->host.restart_policy.maximum_retry_count;
    stopped_by_user = c->state.stopped_by_user;
    restarts = c->state.restart_count;
    started_at = c->state.started_at;
    for (auto& s : c->sinks) {
      std::lock_guard sl(s->mu);
      s->closed = true;
    }
  }
  {
    std::vector<std::shared_ptr<AttachSink>> sinks;
    {
      std::lock_guard lock(c->mu);
      sinks = c->sinks;
    }
    for (auto& s : sinks) s->ready.notify_all();
  }
  auto call = [self, c] { self->persist_state(c); };
  if (!auto_remove) co_await io::offload(std::move(call));
  c->changed.notify_all();

  // Restart policies, with docker's backoff: 100 ms doubling, reset after
  // ten seconds of running.
  bool restart = false;
  if (!stopped_by_user && !stopping_all_.load()) {
    if (policy == "always" || policy == "unless-stopped") restart = true;
    if (policy == "on-failure" && exit_code != 0 && (max_retry == 0 || restarts < max_retry))
      restart = true;
  }
  if (restart) {
    int64_t ran = now_ns() - started_at;
    int backoff_ms = ran > 10'000'000'000ll ? 100 : std::min(100 << std::min(restarts, 10), 60000);
    {
      std::lock_guard lock(c->mu);
      c->state.status = Status::restarting;
      c->state.restart_count += 1;
    }
    c->changed.notify_all();
    co_await io::sleep(std::chrono::milliseconds(backoff_ms));
    bool still;
    {
      std::lock_guard lock(c->mu);
      still = c->state.status == Status::restarting && !c->removed && !c->state.stopped_by_user &&
              !stopping_all_.load();
      if (still) c->state.status = Status::exited;  // start() wants a stopped container
    }
    if (still) {
      auto r = co_await start(c);
      if (!r) log::warn("container ", c->short_id(), ": restart: ", r.error().message);
    }
    co_return;
  }
  if (auto_remove) {
    auto r = co_await remove(c, true, false);
    if (!r) log::warn("container ", c->short_id(), ": auto-remove: ", r.error().message);
  }
}

Result<void> ContainerManager::kill(const std::shared_ptr<Container>& c, int signal) {
  std::lock_guard lock(c->mu);
  if (!c->state.running() || !c->rt.pidfd)
    return fail(Errc::conflict, str_cat("Container ", c->id, " is not running"));
  if (c->state.status == Status::paused && signal != SIGKILL)
    return fail(Errc::conflict,
                str_cat("Container ", c->id,
                        " is paused. Unpause the container before stopping or killing"));
  if (sys::pidfd_send_signal(c->rt.pidfd.get(), signal) != 0 && errno != ESRCH)
    return sys_fail(errno, str_cat("kill container ", c->short_id()));
  if (signal == SIGKILL && c->state.status == Status::paused && c->rt.cgroup)
    (void)c->rt.cgroup->thaw();
  return {};
}

io::Task<Result<void>> ContainerManager::stop(std::shared_ptr<Container> c,
                                              std::optional<int> timeout, bool by_user) {
  int sig;
  int secs;
  {
    std::lock_guard lock(c->mu);
    if (c->state.status == Status::restarting) {
      if (by_user) c->state.stopped_by_user = true;
      c->state.status = Status::exited;
      c->changed.notify_all();
      co_return Result<void>{};
    }
    if (!c->state.running()) co_return fail(Errc::not_modified, "container already stopped");
    if (by_user) c->state.stopped_by_user = true;
    sig = signal_number(c->config.stop_signal);
    if (sig <= 0) sig = SIGTERM;
    secs = timeout.value_or(c->config.stop_timeout.value_or(opts_.default_stop_timeout));
  }
  if (sig != SIGKILL) {
    auto k = kill(c, sig);
    if (!k && k.error().code != Errc::conflict) co_return k;
    for (;;) {
      uint64_t t;
      {
        std::lock_guard lock(c->mu);
        if (!c->state.running() || c->state.status == Status::restarting) co_return Result<void>{};
        t = c->changed.ticket();
      }
      if (secs < 0) {
        co_await c->changed.wait(t);
        continue;
      }
      bool notified = co_await c->changed.wait_for(t, std::chrono::seconds(secs));
      if (!notified) break;
    }
  }
  (void)kill(c, SIGKILL);
  for (int i = 0; i < 600; ++i) {
    uint64_t t;
    {
      std::lock_guard lock(c->mu);
      if (!c->state.running() || c->state.status == Status::restarting) co_return Result<void>{};
      t = c->changed.ticket();
    }
    co_await c->changed.wait_for(t, 100ms);
  }
  co_return fail(Errc::timeout, "container did not exit after SIGKILL");
}

io::Task<Result<void>> ContainerManager::restart(std::shared_ptr<Container> c,
                                                 std::optional<int> timeout) {
  auto s = co_await stop(c, timeout);
  if (!s && s.error().code != Errc::not_modified) co_return s;
  auto r = co_await start(c);
  if (!r && r.error().code == Errc::not_modified) co_return Result<void>{};
  co_return r;
}

io::Task<Result<void>> ContainerManager::pause(std::shared_ptr<Container> c) {
  cgroup::Cgroup* cg;
  {
    std::lock_guard lock(c->mu);
    if (!c->state.running())
      co_return fail(Errc::conflict, str_cat("Container ", c->id, " is not running"));
    if (c->state.status == Status::paused)
      co_return fail(Errc::conflict, str_cat("Container ", c->id, " is already paused"));
    cg = c->rt.cgroup.get();
  }
  if (!cg) co_return fail(Errc::conflict, "container has no cgroup");
  auto call = [cg] { return cg->freeze(); };
  auto r = co_await io::offload(std::move(call));
  if (!r) co_return r;
  {
    std::lock_guard lock(c->mu);
    c->state.status = Status::paused;
  }
  ContainerManager* self = this;
  auto persist = [self, c] { self->persist_state(c); };
  co_await io::offload(std::move(persist));
  c->changed.notify_all();
  co_return Result<void>{};
}

io::Task<Result<void>> ContainerManager::unpause(std::shared_ptr<Container> c) {
  cgroup::Cgroup* cg;
  {
    std::lock_guard lock(c->mu);
    if (c->state.status != Status::paused)
      co_return fail(Errc::conflict, str_cat("Container ", c->id, " is not paused"));
    cg = c->rt.cgroup.get();
  }
  auto call = [cg] { return cg->thaw(); };
  auto r = co_await io::offload(std::move(call));
  if (!r) co_return r;
  {
    std::lock_guard lock(c->mu);
    if (c->state.status == Status::paused) c->state.status = Status::running;
  }
  ContainerManager* self = this;
  auto persist = [self, c] { self->persist_state(c); };
  co_await io::offload(std::move(persist));
  c->changed.notify_all();
  co_return Result<void>{};
}

io::Task<Result<WaitResult>> ContainerManager::wait(std::shared_ptr<Container> c,
                                                    std::string condition,
                                                    std::function<bool()> cancelled) {
  if (condition.empty()) condition = "not-running";
  if (condition != "not-running" && condition != "next-exit" && condition != "removed")
    co_return fail(Errc::invalid_argument, "invalid condition: \"" + condition + "\"");
  uint64_t start_finished;
  {
    std::lock_guard lock(c->mu);
    start_finished = static_cast<uint64_t>(c->state.finished_at);
  }
  for (;;) {
    uint64_t t;
    {
      std::lock_guard lock(c->mu);
      bool done = false;
      if (condition == "removed")
        done = c->removed;
      else if (condition == "not-running")
        done = !c->state.running() || c->removed;
      else
        done = (static_cast<uint64_t>(c->state.finished_at) != start_finished &&
                c->state.status != Status::running) ||
               c->removed;
      if (done) co_return WaitResult{c->state.exit_code, c->state.error};
      t = c->changed.ticket();
    }
    if (!cancelled) {
      co_await c->changed.wait(t);
      continue;
    }
    bool notified = co_await c->changed.wait_for(t, std::chrono::seconds(1));
    if (!notified && cancelled()) co_return fail(Errc::cancelled, "wait cancelled");
  }
}

io::Task<Result<void>> ContainerManager::remove(std::shared_ptr<Container> c, bool force, bool) {
  {
    std::lock_guard lock(c->mu);
    if (c->removed) co_return Result<void>{};
    if (c->state.status == Status::removing)
      co_return fail(Errc::conflict,
                     str_cat("removal of container ", c->short_id(), " is already in progress"));
    if (c->state.running() && c->state.status != Status::restarting && !force) {
      if (c->state.status == Status::paused)
        co_return fail(Errc::conflict,
                       str_cat("cannot remove container \"", c->name.substr(1),
                               "\": container is paused and must be unpaused first"));
      co_return fail(
          Errc::conflict,
          str_cat("cannot remove container \"", c->name.substr(1),
                  "\": container is running: stop the container before removing or force remove"));
    }
    c->state.stopped_by_user = true;
  }
  bool running;
  {
    std::lock_guard lock(c->mu);
    running = c->state.running() && c->state.status != Status::restarting;
  }
  if (running) {
    (void)kill(c, SIGKILL);
    for (int i = 0; i < 600; ++i) {
      uint64_t t;
      {
        std::lock_guard lock(c->mu);
        if (!c->state.running() || c->state.status == Status::restarting) break;
        t = c->changed.ticket();
      }
      co_await c->changed.wait_for(t, 100ms);
    }
  }
  {
    std::lock_guard lock(c->mu);
    c->state.status = Status::removing;
  }
  ContainerManager* self = this;
  auto call = [self, c] { return self->remove_files(c); };
  auto r = co_await io::offload(std::move(call));
  {
    std::lock_guard lock(c->mu);
    c->removed = true;
    if (!r) c->state.status = Status::dead;
  }
  c->changed.notify_all();
  co_return r;
}

void ContainerManager::attach(const std::shared_ptr<Container>& c,
                              const std::shared_ptr<AttachSink>& s) {
  std::lock_guard lock(c->mu);
  c->sinks.push_back(s);
}

void ContainerManager::detach(const std::shared_ptr<Container>& c,
                              const std::shared_ptr<AttachSink>& s) {
  {
    std::lock_guard lock(c->mu);
    std::erase(c->sinks, s);
  }
  {
    std::lock_guard lock(s->mu);
    s->closed = true;
    s->queue.clear();
    s->bytes = 0;
  }
  s->drained.notify_all();
}

io::Task<Result<void>> ContainerManager::write_stdin(std::shared_ptr<Container> c,
                                                     std::string data) {
  int fd;
  {
    std::lock_guard lock(c->mu);
    if (!c->config.tty && c->config.open_stdin && !c->state.running() && !c->rt.stdin_writer)
      BERTH_CO_TRY(ensure_stdin_pipe_locked(*c));
    fd = c->config.tty ? c->rt.tty_master.get() : c->rt.stdin_writer.get();
    if (fd < 0) co_return fail(Errc::conflict, "the container's stdin is closed");
    fd = ::dup(fd);  // stays valid if the container closes it meanwhile
  }
  unique_fd owned(fd);
  size_t off = 0;
  while (off < data.size()) {
    int n = co_await io::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) co_return sys_fail(n < 0 ? -n : EPIPE, "write to the container's stdin");
    off += static_cast<size_t>(n);
  }
  co_return Result<void>{};
}

void ContainerManager::close_stdin(const std::shared_ptr<Container>& c) {
  std::lock_guard lock(c->mu);
  if (!c->config.tty) c->rt.stdin_writer.reset();
}

Result<void> ContainerManager::resize_tty(const std::shared_ptr<Container>& c, int height,
                                          int width) {
  std::lock_guard lock(c->mu);
  if (!c->state.running())
    return fail(Errc::conflict, str_cat("Container ", c->id, " is not running"));
  if (!c->rt.tty_master) return {};
  winsize ws{};
  ws.ws_row = static_cast<unsigned short>(height);
  ws.ws_col = static_cast<unsigned short>(width);
  if (::ioctl(c->rt.tty_master.get(), TIOCSWINSZ, &ws) != 0) return sys_fail(errno, "resize tty");
  return {};
}

Result<std::vector<std::string>> ContainerManager::update(const std::shared_ptr<Container>& c,
                                                          const HostConfig& r) {
  std::vector<std::string> warnings;
  cgroup::Cgroup* cg = nullptr;
  {
    std::lock_guard lock(c->mu);
    HostConfig& h = c->host;
    if (r.memory) h.memory = r.memory;
    if (r.memory_swap) h.memory_swap = r.memory_swap;
    if (r.memory_reservation) h.memory_reservation = r.memory_reservation;
    if (r.cpu_shares) h.cpu_shares = r.cpu_shares;
    if (r.nano_cpus) {
      h.nano_cpus = r.nano_cpus;
      h.cpu_quota = 0;
      h.cpu_period = 0;
    }
    if (r.cpu_quota) h.cpu_quota = r.cpu_quota;
    if (r.cpu_period) h.cpu_period = r.cpu_period;
    if (!r.cpuset_cpus.empty()) h.cpuset_cpus = r.cpuset_cpus;
    if (!r.cpuset_mems.empty()) h.cpuset_mems = r.cpuset_mems;
    if (r.pids_limit) h.pids_limit = r.pids_limit;
    if (!r.restart_policy.name.empty()) {
      if (h.auto_remove && r.restart_policy.name != "no")
        return fail(
            Errc::invalid_argument,
            "Restart policy cannot be updated because AutoRemove is enabled for the container");
      h.restart_policy = r.restart_policy;
    }
    if (h.memory != 0 && h.memory < 6 * 1024 * 1024)
      return fail(Errc::invalid_argument, "Minimum memory limit allowed is 6MB");
    cg = c->rt.cgroup.get();
  }
  if (cg) {
    cgroup::Resources res;
    if (r.memory) res.memory = r.memory;
    if (r.memory_swap) res.memory_swap = r.memory_swap;
    if (r.memory_reservation) res.memory_reservation = r.memory_reservation;
    if (r.cpu_shares) res.cpu_shares = r.cpu_shares;
    if (r.nano_cpus) res.nano_cpus = r.nano_cpus;
    if (r.cpu_quota) res.cpu_quota = r.cpu_quota;
    if (r.cpu_period) res.cpu_period = r.cpu_period;
    if (r.pids_limit) res.pids_limit = r.pids_limit;
    res.cpuset_cpus = r.cpuset_cpus;
    res.cpuset_mems = r.cpuset_mems;
    BERTH_TRY(cg->update(res));
  }
  BERTH_TRY(store_->save_config(*c));
  return warnings;
}

namespace {

struct StopJoin {
  size_t left = 0;
  io::Event done;
};

io::Task<void> stop_one(ContainerManager* m, std::shared_ptr<Container> c,
                        std::shared_ptr<StopJoin> join) {
  auto r = co_await m->stop(c, std::nullopt, /*by_user=*/false);
  if (!r && r.error().code != Errc::not_modified)
    log::warn("stop container ", c->short_id(), ": ", r.error().message);
  if (--join->left == 0) join->done.notify_all();
}

}  // namespace

io::Task<void> ContainerManager::stop_all() {
  stopping_all_.store(true);
  std::vector<std::shared_ptr<Container>> running;
  for (auto& c : list()) {
    std::lock_guard lock(c->mu);
    if (c->state.running()) running.push_back(c);
  }
  if (!running.empty()) {
    // All at once, each with its own StopTimeout, as dockerd does.
    auto join = std::make_shared<StopJoin>();
    join->left = running.size();
    uint64_t ticket = join->done.ticket();
    for (auto& c : running) io::spawn(stop_one(this, c, join));
    while (join->left > 0) {
      co_await join->done.wait(ticket);
      ticket = join->done.ticket();
    }
  }
  ContainerManager* self = this;
  auto drain = [self] { self->drain_cleanup(); };
  co_await io::offload(std::move(drain));
}

io::Task<void> ContainerManager::start_restartable() {
  for (auto& c : list()) {
    bool go;
    {
      std::lock_guard lock(c->mu);
      const std::string& p = c->host.restart_policy.name;
      go = p == "always" || (p == "unless-stopped" && !c->state.stopped_by_user);
    }
    if (!go) continue;
    auto r = co_await start(c);
    if (!r) log::warn("restart container ", c->short_id(), ": ", r.error().message);
  }
}

}  // namespace berth::core::container
