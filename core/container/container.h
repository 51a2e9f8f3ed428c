// Container: one container's identity, configuration, state and — while it
// runs — its live resources (pidfd, cgroup, stdio). Shared (shared_ptr) by
// the manager, API handlers and the reactor coroutines that watch it.
//
// Thread-safety: identity and configuration are fixed at create (except the
// name, and HostConfig resources that update() changes, both under mu);
// state and runtime fields are read and written under mu. `changed` is
// notified after every state change (start, exit, pause, remove), so a
// waiter takes a ticket under mu, checks, then awaits.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/base/unique_fd.h"
#include "core/cgroup/manager.h"
#include "core/container/config.h"
#include "core/container/log_writer.h"
#include "io/event.h"

namespace berth::core::container {

enum class Status { created, running, paused, restarting, removing, exited, dead };
std::string_view status_name(Status s);

struct State {
  Status status = Status::created;
  pid_t pid = 0;
  int exit_code = 0;
  bool oom_killed = false;
  std::string error;
  int64_t started_at = 0;   // unix ns; 0: never
  int64_t finished_at = 0;  // unix ns; 0: never
  bool stopped_by_user = false;  // for the restart policies
  int restart_count = 0;
  bool running() const {
    return status == Status::running || status == Status::paused || status == Status::restarting;
  }
};

// A client attached to the container's output (docker attach / run).
struct AttachSink {
  bool want_stdout = true, want_stderr = true;
  std::mutex mu;
  std::deque<std::pair<int, std::string>> queue;  // (1 stdout | 2 stderr, bytes)
  size_t bytes = 0;
  bool closed = false;  // the container's output ended
  io::Event ready;      // data queued or closed
  io::Event drained;    // the client took data off the queue
};

struct Runtime {
  unique_fd pidfd;
  std::unique_ptr<cgroup::Cgroup> cgroup;
  unique_fd stdin_writer;  // the container's stdin pipe (OpenStdin), daemon end
  unique_fd stdin_reader;  // its other end, made before a start, given to the child
  unique_fd tty_master;
  // The container's mount namespace, held from the start until the clean-up
  // after its exit: unmounting its ~45 mounts happens there, after the exit
  // is answered, not in the exiting process before its pidfd says so.
  unique_fd mnt_ns;
  int pumps_running = 0;  // stdout/stderr readers still going
  uint64_t generation = 0;  // bumps at each start: watchers of old runs stop
};

struct Container {
  // Fixed at create.
  std::string id;          // 64 hex
  int64_t created = 0;     // unix ns
  std::string image_id;    // sha256:...
  std::string image_ref;   // as the client named it
  std::string path;        // argv[0] docker shows
  std::vector<std::string> args;
  std::string dir;         // ROOT/containers/<id>
  std::vector<std::string> layer_dirs;  // image layers, top first
  std::string hostname_path, hosts_path, resolv_path, log_dir;

  mutable std::mutex mu;
  std::string name;  // "/name"
  Config config;
  HostConfig host;
  State state;
  Runtime rt;
  std::vector<std::shared_ptr<AttachSink>> sinks;
  std::unique_ptr<LogWriter> log;
  io::Event changed;
  bool removed = false;

  std::string short_id() const { return id.substr(0, 12); }
};

}  // namespace berth::core::container
