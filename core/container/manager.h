// ContainerManager: creates, starts, stops and removes containers, and
// watches the running ones — with no process per container: the daemon holds
// each container's pidfd, polls it on a reactor, reads its stdout/stderr
// pipes there into its log and to attached clients, and learns of OOM kills
// from its cgroup.
//
// Calls marked (blocking) touch SQLite or the file system: run them on the
// blocking pool. Coroutines run on a reactor; a started container's watchers
// stay on the reactor that started it. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/base/db.h"
#include "core/base/error.h"
#include "core/cgroup/manager.h"
#include "core/container/container.h"
#include "core/container/store.h"
#include "core/runtime/netns_pool.h"
#include "io/task.h"
#include "layers/image/oci.h"
#include "layers/image/service.h"

namespace berth::core::container {

struct ManagerOptions {
  std::string root;  // ROOT: containers live in ROOT/containers/<id>
  LogWriterOptions default_log;
  int default_stop_timeout = 10;
  int netns_pool = 4;  // network namespaces kept ready (0: none)
  // What the daemon's cgroup manager was made with: a container's own
  // HostConfig.CgroupParent gets a manager of these with that parent.
  cgroup::ManagerOptions cgroup_options;
};

// What a start cost, by phase (nanoseconds, each phase's own share), for the
// start latency tools: the API answers them in a Berth-Start-Phases header.
struct StartTimes {
  uint64_t queue = 0;    // waiting for a blocking-pool thread
  uint64_t cgroup = 0;   // the container's cgroup made and limited
  uint64_t prepare = 0;  // user, caps, seccomp, pipes, mounts planned
  uint64_t log = 0;      // the log opened (first start only)
  uint64_t clone = 0;    // clone with new namespaces, until the child runs
  uint64_t join = 0;     // child: joined its cgroups, signals, stdio
  uint64_t rootfs = 0;   // child: overlay root mounted (and the netns set up)
  uint64_t mounts = 0;   // child: /proc, /dev, /sys, binds, masks
  uint64_t pivot = 0;    // child: pivot_root
  uint64_t setup = 0;    // child: hostname, rlimits, user, caps, seccomp
  uint64_t exec = 0;     // child's execve until the parent resumes
  uint64_t persist = 0;  // state set and its row written (still on the pool thread)
  uint64_t resume = 0;   // back on the reactor, watchers started
  // "queue=12,cgroup=340,..." in microseconds.
  std::string header_value() const;
};

struct WaitResult {
  int status_code = 0;
  std::string error;
};

class ContainerManager {
 public:
  // (blocking) Loads containers, cleans up what a previous run left behind.
  static Result<std::unique_ptr<ContainerManager>> open(ManagerOptions opts, db::Database& db,
                                                        layers::image::ImageService& images,
                                                        std::unique_ptr<cgroup::Manager> cgroups);
  ~ContainerManager();

  // (blocking) Creates a container; warnings for the create response.
  Result<std::shared_ptr<Container>> create(CreateRequest req, std::string name,
                                            std::vector<std::string>* warnings);
  // By full or unique short ID, or name (with or without '/').
  Result<std::shared_ptr<Container>> find(std::string_view ref) const;
  std::vector<std::shared_ptr<Container>> list() const;

  io::Task<Result<void>> start(std::shared_ptr<Container> c, StartTimes* times = nullptr);
  // StopSignal, then SIGKILL after timeout seconds (nullopt: the container's
  // StopTimeout or the default; -1 waits forever). by_user: a user's stop,
  // which `unless-stopped` remembers (the daemon's own at shutdown is not).
  io::Task<Result<void>> stop(std::shared_ptr<Container> c, std::optional<int> timeout,
                              bool by_user = true);
  io::Task<Result<void>> restart(std::shared_ptr<Container> c, std::optional<int> timeout);
  Result<void> kill(const std::shared_ptr<Container>& c, int signal);
  io::Task<Result<void>> pause(std::shared_ptr<Container> c);
  io::Task<Result<void>> unpause(std::shared_ptr<Container> c);
  // condition: "not-running" (default), "next-exit", "removed".
  // cancelled (optional) is asked about once a second; when it says yes the
  // wait ends with Errc::cancelled (the client went away, the daemon stops).
  io::Task<Result<WaitResult>> wait(std::shared_ptr<Container> c, std::string condition,
                                    std::function<bool()> cancelled = {});
  io::Task<Result<void>> remove(std::shared_ptr<Container> c, bool force, bool volumes);
  Result<void> rename(const std::shared_ptr<Container>& c, std::string new_name);  // (blocking)
  Result<std::vector<std::string>> update(const std::shared_ptr<Container>& c,
                                          const HostConfig& resources);  // (blocking)
  // Attaches a sink to the container's output (before or after start).
  void attach(const std::shared_ptr<Container>& c, const std::shared_ptr<AttachSink>& s);
  void detach(const std::shared_ptr<Container>& c, const std::shared_ptr<AttachSink>& s);
  // Writes to the container's stdin (OpenStdin or a TTY); empty closes it.
  io::Task<Result<void>> write_stdin(std::shared_ptr<Container> c, std::string data);
  void close_stdin(const std::shared_ptr<Container>& c);
  Result<void> resize_tty(const std::shared_ptr<Container>& c, int height, int width);

  bool image_in_use(const std::string& image_id) const;
  struct Counts {
    int total = 0, running = 0, paused = 0, stopped = 0;
  };
  Counts counts() const;
  // Stops every running container, all at once, each after its own
  // StopTimeout (graceful shutdown of the daemon), then waits for the
  // clean-up still running in the background.
  io::Task<void> stop_all();
  // Starts containers whose restart policy asks for it after a daemon start.
  io::Task<void> start_restartable();

  cgroup::Manager& cgroups() { return *cgroups_; }
  const ManagerOptions& options() const { return opts_; }

 private:
  ContainerManager() = default;
  struct Prepared;
  Result<std::unique_ptr<Prepared>> prepare_start(const std::shared_ptr<Container>& c);
  io::Task<void> monitor(std::shared_ptr<Container> c, uint64_t generation);
  io::Task<void> pump(std::shared_ptr<Container> c, int fd, int stream, uint64_t generation);
  io::Task<void> handle_exit(std::shared_ptr<Container> c, int exit_code);
  Result<void> remove_files(const std::shared_ptr<Container>& c);  // (blocking)
  void persist_state(const std::shared_ptr<Container>& c);         // (blocking)
  std::string unique_name();
  // Clean-up nobody waits for (a removed container's cgroup and files):
  // runs on the blocking pool, after the answer; drain_cleanup() (blocking)
  // waits until none is left. A crash in between is mended by open().
  void cleanup_later(std::function<void()> job);
  void drain_cleanup();
  // What a create needs of an image, by image ID. The ID is the digest of
  // the config, so an entry never goes stale (a removed image that comes
  // back is the same content); the cache is bounded.
  struct ImageInfo {
    layers::image::ImageConfig config;
    std::vector<std::string> layer_dirs;  // top first
  };
  Result<std::shared_ptr<const ImageInfo>> image_info(const std::string& image_id);
  // The cgroup manager for a container: the daemon's, or one for its own
  // HostConfig.CgroupParent (made on first use, kept).
  Result<cgroup::Manager*> cgroups_for(const Container& c);

  ManagerOptions opts_;
  db::Database* db_ = nullptr;
  layers::image::ImageService* images_ = nullptr;
  std::unique_ptr<cgroup::Manager> cgroups_;
  std::mutex image_cache_mu_;
  std::map<std::string, std::shared_ptr<const ImageInfo>> image_cache_;
  std::mutex custom_cgroups_mu_;
  std::map<std::string, std::unique_ptr<cgroup::Manager>> custom_cgroups_;  // by parent
  std::unique_ptr<ContainerStore> store_;
  std::unique_ptr<runtime::NetnsPool> netns_pool_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Container>> by_id_;
  std::map<std::string, std::string> by_name_;  // "/name" -> id
  std::atomic<bool> stopping_all_{false};       // shutdown: no restart policy applies
  std::mutex cleanup_mu_;
  std::condition_variable cleanup_cv_;
  int cleanups_ = 0;
};

}  // namespace berth::core::container
