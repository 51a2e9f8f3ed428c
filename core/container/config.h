// A container's configuration as the Docker API carries it: Config (what to
// run) and HostConfig (how the host runs it), parsed from the create body and
// written back in docker's inspect shape. Field names and JSON spellings are
// docker's; keys are matched case-insensitively as Go does. Options berth does
// not support are refused at create with a message naming them, never
// silently ignored when set to something that would change behaviour.
// Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::json {
class Writer;
}

namespace berth::core::container {

struct Config {
  std::string hostname, domainname, user;
  bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
  std::vector<std::string> exposed_ports;  // "80/tcp"
  bool tty = false, open_stdin = false, stdin_once = false;
  std::vector<std::string> env;
  std::optional<std::vector<std::string>> cmd;
  std::string healthcheck_raw;  // JSON, echoed
  bool args_escaped = false;
  std::string image;
  std::vector<std::string> volumes;
  std::string working_dir;
  std::optional<std::vector<std::string>> entrypoint;
  bool network_disabled = false;
  std::string mac_address;
  std::vector<std::string> on_build;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::optional<int> stop_timeout;
  std::optional<std::vector<std::string>> shell;
};

struct RestartPolicy {
  std::string name;  // "", "no", "always", "unless-stopped", "on-failure"
  int maximum_retry_count = 0;
};

struct Ulimit {
  std::string name;
  int64_t soft = 0, hard = 0;
};

struct MountSpec {  // HostConfig.Mounts[]
  std::string type;  // bind, volume, tmpfs
  std::string source, target;
  bool read_only = false;
  std::string propagation;  // BindOptions.Propagation
  int64_t tmpfs_size = 0;   // TmpfsOptions.SizeBytes
  uint32_t tmpfs_mode = 0;  // TmpfsOptions.Mode
};

struct LogConfig {
  std::string type;  // "" means the daemon's default
  std::map<std::string, std::string> config;
};

struct HostConfig {
  std::vector<std::string> binds;
  std::string container_id_file;
  LogConfig log_config;
  std::string network_mode;  // "", "default", "bridge", "none", "host"
  std::string port_bindings_raw;
  RestartPolicy restart_policy;
  bool auto_remove = false;
  std::vector<std::string> volumes_from;
  std::vector<MountSpec> mounts;
  std::vector<std::string> cap_add, cap_drop;
  std::string cgroupns_mode;
  std::vector<std::string> dns, dns_options, dns_search, extra_hosts, group_add;
  std::string ipc_mode, cgroup, pid_mode, uts_mode, userns_mode, runtime, isolation;
  std::vector<std::string> links;
  int oom_score_adj = 0;
  bool privileged = false, publish_all_ports = false, readonly_rootfs = false;
  std::vector<std::string> security_opt;
  std::map<std::string, std::string> tmpfs;  // path -> options
  std::map<std::string, std::string> sysctls;
  int64_t shm_size = 0;
  std::optional<bool> init;
  std::optional<std::vector<std::string>> masked_paths, readonly_paths;
  std::vector<int> console_size;
  // Resources
  int64_t cpu_shares = 0, memory = 0, memory_reservation = 0, memory_swap = 0;
  int64_t nano_cpus = 0, cpu_period = 0, cpu_quota = 0;
  std::optional<int64_t> memory_swappiness;
  std::string cgroup_parent, cpuset_cpus, cpuset_mems;
  std::optional<bool> oom_kill_disable;
  std::optional<int64_t> pids_limit;
  std::vector<Ulimit> ulimits;
  int64_t blkio_weight = 0;
  std::vector<std::string> device_cgroup_rules;
  std::string devices_raw;  // echoed; non-empty device lists are refused
};

// Parses a POST /containers/create body: Config at the top level with
// HostConfig (and NetworkingConfig, echoed raw) inside.
struct CreateRequest {
  Config config;
  HostConfig host;
  std::string networking_raw;
};
Result<CreateRequest> parse_create(std::string_view body);
// Parses a HostConfig object alone (POST /containers/{id}/update uses the
// resources subset).
Result<HostConfig> parse_host_config(std::string_view json);

// docker's inspect shapes.
void write_config(json::Writer& w, const Config& c);
void write_host_config(json::Writer& w, const HostConfig& h);

// Serialized for the state store: {"Config":...,"HostConfig":...}.
std::string to_stored_json(const Config& c, const HostConfig& h);
Result<CreateRequest> from_stored_json(std::string_view json);

}  // namespace berth::core::container
