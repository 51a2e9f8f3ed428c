// Daemon: berthd's process-level wiring. Owns the root directory lock, the
// listening sockets, the reactor threads, the HTTP server and the router;
// turns SIGTERM/SIGINT into a graceful stop.
//
// run() blocks the calling (main) thread until the daemon has stopped.
#pragma once

#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/log.h"

namespace berth::daemon {

struct Options {
  std::string root = "/var/lib/berth";
  std::vector<std::string> hosts;  // empty: unix:///run/berth.sock
  int threads = 0;                 // 0: one per core
  log::Level log_level = log::Level::info;
  std::string pidfile;
  int shutdown_grace_s = 10;
  // Parent of the containers' cgroups: "" = "berth" below the daemon's own
  // cgroup; "/a/b" from the hierarchy root; "a/b" below the daemon's own.
  std::string cgroup_parent;
  std::vector<std::string> insecure_registries;
  std::string registry_certs = "/etc/docker/certs.d";
  bool registry_strict_loopback = false;
  unsigned max_downloads = 3, max_uploads = 5;
  int netns_pool = 4;     // network namespaces kept ready for containers
  int cgroup_spares = 4;  // v1 container cgroups made ahead
};

// Returns the process exit code.
int run(const Options& opts);

}  // namespace berth::daemon
