#include "tools/berthd/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "api/server/api.h"
#include "core/base/unique_fd.h"
#include "core/engine.h"
#include "core/sys/host.h"
#include "io/http/server.h"
#include "io/net.h"
#include "io/reactor.h"

namespace berth::daemon {

namespace {

// Holds ROOT/berthd.lock with flock() for the daemon's lifetime: a second
// daemon on the same root fails to take it, whatever pid files say.
Result<unique_fd> lock_root(const std::string& root) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return fail(Errc::io, str_cat("create root directory ", root, ": ", ec.message()));
  ::chmod(root.c_str(), 0711);
  std::string path = root + "/berthd.lock";
  unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return sys_fail(errno, "open " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      char buf[32] = {};
      ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
      std::string holder = n > 0 ? std::string(trim(std::string_view(buf, static_cast<size_t>(n))))
                                 : std::string("unknown");
      return fail(Errc::conflict,
                  str_cat("another berthd (pid ", holder, ") is already running with root ", root));
    }
    return sys_fail(e, "lock " + path);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) == 0) [[maybe_unused]]
    auto w = ::pwrite(fd.get(), pid.data(), pid.size(), 0);
  return fd;
}

std::string load_or_create_id(const std::string& root) {
  std::string path = root + "/engine-id";
  std::string id(trim(sys::read_small_file(path)));
  if (!id.empty()) return id;
  std::random_device rd;
  unsigned char b[16];
  for (auto& c : b) c = static_cast<unsigned char>(rd());
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  std::string hex = to_hex(b, 16);
  id = str_cat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
               hex.substr(16, 4), "-", hex.substr(20));
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
  return id;
}

// Reads SIGTERM/SIGINT from a signalfd on reactor 0.
io::Task<void> watch_signals(int sfd, std::function<void(int)> on_signal) {
  for (;;) {
    signalfd_siginfo si;
    int n = co_await io::read(sfd, &si, sizeof si);
    if (n == -ECANCELED) co_return;
    if (n != static_cast<int>(sizeof si)) {
      if (n < 0 && n != -EINTR && n != -EAGAIN) co_return;
      continue;
    }
    on_signal(static_cast<int>(si.ssi_signo));
  }
}

io::Task<void> start_restartable(core::Engine* e) {
  co_await e->containers().start_restartable();
}

}  // namespace

int run(const Options& opts) {
  log::set_level(opts.log_level);

  // Signals are read through a signalfd: block them in every thread.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  unique_fd sfd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sfd) {
    log::error("signalfd: ", std::strerror(errno));
    return 1;
  }

  auto lock = lock_root(opts.root);
  if (!lock) {
    log::error(lock.error().message);
    return 1;
  }

  std::vector<std::string> hosts = opts.hosts;
  if (hosts.empty()) hosts.push_back("unix:///run/berth.sock");
  std::vector<unique_fd> listeners;
  std::vector<std::string> socket_paths;
  for (const auto& h : hosts) {
    auto ep = io::parse_endpoint(h);
    if (!ep) {
      log::error(ep.error().message);
      return 1;
    }
    if (ep->kind == io::Endpoint::Kind::unix_socket) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(ep->path).parent_path(), ec);
    }
    auto fd = io::listen_endpoint(*ep);
    if (!fd) {
      log::error("listen on ", h, ": ", fd.error().message);
      return 1;
    }
    if (ep->kind == io::Endpoint::Kind::unix_socket) socket_paths.push_back(ep->path);
    listeners.push_back(std::move(*fd));
    log::info("API listening on ", ep->str());
  }

  if (!opts.pidfile.empty()) {
    std::ofstream pf(opts.pidfile, std::ios::trunc);
    pf << ::getpid() << "\n";
    if (!pf) log::warn("cannot write pidfile ", opts.pidfile);
  }

  core::EngineOptions eo;
  eo.root = opts.root;
  eo.cgroup_parent = opts.cgroup_parent;
  eo.registry.insecure = opts.insecure_registries;
  eo.registry.certs_dir = opts.registry_certs;
  eo.registry.strict_loopback = opts.registry_strict_loopback;
  eo.max_downloads = opts.max_downloads;
  eo.max_uploads = opts.max_uploads;
  eo.netns_pool = opts.netns_pool;
  eo.cgroup_spares = opts.cgroup_spares;
  auto engine = core::Engine::open(eo);
  if (!engine) {
    log::error("open state in ", opts.root, ": ", engine.error().message);
    return 1;
  }

  api::ApiContext ctx;
  ctx.engine = engine->get();
  core::Engine* ep = engine->get();
  ctx.counts = [ep] {
    api::ObjectCounts n;
    if (auto c = ep->images().images().count()) n.images = static_cast<int>(*c);
    auto cc = ep->containers().counts();
    n.containers = cc.total;
    n.running = cc.running;
    n.paused = cc.paused;
    n.stopped = cc.stopped;
    return n;
  };
  ctx.root_dir = std::filesystem::absolute(opts.root).lexically_normal().string();
  ctx.daemon_id = load_or_create_id(opts.root);
  ctx.server_version = BERTH_VERSION;
  ctx.git_commit = BERTH_GIT_COMMIT;
  ctx.build_time = BERTH_BUILD_TIME;
  ctx.compiler = str_cat("gcc ", __VERSION__);
  ctx.host = sys::gather_host_info();
  ctx.backing_fs = sys::filesystem_name(opts.root);
  ctx.debug = opts.log_level == log::Level::debug;
  ctx.started = std::chrono::system_clock::now();
  api::Router router = api::build_router(ctx);

  int threads = opts.threads > 0
                    ? opts.threads
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  io::http::ServerOptions sopts;
  sopts.common_headers = api::common_headers(ctx);
  const api::Router* rp = &router;
  io::http::Server server(
      sopts, [rp](io::http::Request& q, io::http::Response& s) { return rp->dispatch(q, s); },
      threads);

  io::ReactorGroup group;
  // The main thread waits for a stop request, then for the server to drain
  // (bounded by the grace period plus a margin), then stops the reactors.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop_requested = false, drained = false;
  int signals_seen = 0;
  const auto grace = std::chrono::seconds(opts.shutdown_grace_s);
  auto on_signal = [&](int signo) {
    std::lock_guard lock(stop_mu);
    if (++signals_seen == 1) {
      log::info("received ", signo == SIGINT ? "SIGINT" : "SIGTERM",
                ", shutting down: no new connections, finishing requests in flight");
      stop_requested = true;
      ep->begin_shutdown();
      server.shutdown(grace, [&] {
        std::lock_guard l2(stop_mu);
        drained = true;
        stop_cv.notify_all();
      });
    } else {
      log::warn("second signal: stopping now");
      drained = true;
    }
    stop_cv.notify_all();
  };
  int sfd_raw = sfd.get();
  std::atomic<int> attached{0};
  auto started = group.start(threads, [&](io::Reactor& r) {
    server.attach_reactor();
    attached.fetch_add(1);
    if (r.index() != 0) return;
    // Accept only once every reactor can take connections.
    while (attached.load() < threads) std::this_thread::yield();
    for (auto& l : listeners) server.add_listener(l.get());
    io::spawn(watch_signals(sfd_raw, on_signal));
    io::spawn(start_restartable(ep));
  });
  if (!started) {
    log::error("start reactors: ", started.error().message);
    return 1;
  }
  log::info("berthd ", BERTH_VERSION, " started: root ", ctx.root_dir, ", ", threads,
            " reactor thread", threads == 1 ? "" : "s", ", pid ", ::getpid());
  {
    std::unique_lock lock(stop_mu);
    stop_cv.wait(lock, [&] { return stop_requested || drained; });
    if (!stop_cv.wait_for(lock, grace + std::chrono::seconds(5), [&] { return drained; }))
      log::warn("connections still open after the grace period; stopping anyway");
    else
      log::info("all connections closed");
  }
  // Containers are children of the daemon: stop them (StopSignal, then
  // SIGKILL after their timeout) before the reactors that watch them go.
  {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    group.at(0).post([&] {
      io::spawn([](core::Engine* e, std::mutex* m, std::condition_variable* cv,
                   bool* done) -> io::Task<void> {
        co_await e->containers().stop_all();
        std::lock_guard l(*m);
        *done = true;
        cv->notify_all();
      }(engine->get(), &m, &cv, &done));
    });
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; }))
      log::warn("containers still running after 30 s; leaving them");
  }
  group.stop_all();
  group.join();

  for (const auto& p : socket_paths) ::unlink(p.c_str());
  if (!opts.pidfile.empty()) ::unlink(opts.pidfile.c_str());
  log::info("berthd stopped");
  return 0;
}

}  // namespace berth::daemon
