#include "core/container/config.h"

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"

namespace berth::core::container {

namespace js = berth::json;
using js::od::value;

namespace {

// Field setters, each naming the field in errors.
struct Fields {
  std::string prefix;
  std::string f(std::string_view k) const { return prefix.empty() ? std::string(k) : prefix + "." + std::string(k); }

  Result<void> str(value v, std::string_view k, std::string& out) const {
    out = BERTH_TRY(js::get_string(v, f(k)));
    return {};
  }
  Result<void> boolean(value v, std::string_view k, bool& out) const {
    out = BERTH_TRY(js::get_bool(v, f(k)));
    return {};
  }
  Result<void> i64(value v, std::string_view k, int64_t& out) const {
    out = BERTH_TRY(js::get_int(v, f(k)));
    return {};
  }
  Result<void> int32(value v, std::string_view k, int& out) const {
    out = static_cast<int>(BERTH_TRY(js::get_int(v, f(k))));
    return {};
  }
  Result<void> strings(value v, std::string_view k, std::vector<std::string>& out) const {
    out = BERTH_TRY(js::get_string_array(v, f(k)));
    return {};
  }
  // Docker accepts a string or an array for Cmd, Entrypoint and Shell.
  Result<void> opt_strings(value v, std::string_view k, std::optional<std::vector<std::string>>& out) const {
    if (js::is_null(v)) {
      out.reset();
      return {};
    }
    js::od::json_type t;
    if (v.type().get(t) == simdjson::SUCCESS && t == js::od::json_type::string) {
      out = std::vector<std::string>{BERTH_TRY(js::get_string(v, f(k)))};
      return {};
    }
    out = BERTH_TRY(js::get_string_array(v, f(k)));
    return {};
  }
  Result<void> map(value v, std::string_view k, std::map<std::string, std::string>& out) const {
    out = BERTH_TRY(js::get_string_map(v, f(k)));
    return {};
  }
  Result<void> keys(value v, std::string_view k, std::vector<std::string>& out) const {
    out.clear();
    if (js::is_null(v)) return {};
    return js::for_each_field(v, f(k), [&](std::string_view key, value) -> Result<void> {
      out.emplace_back(key);
      return {};
    });
  }
  Result<void> raw(value v, std::string_view k, std::string& out) const {
    if (js::is_null(v)) {
      out.clear();
      return {};
    }
    out = BERTH_TRY(js::get_raw(v, f(k)));
    return {};
  }
};

#define KEY(name) iequals(k, name)

Result<Config> parse_config_object(value v) {
  Config c;
  Fields F{""};
  BERTH_TRY(js::for_each_field(v, "Config", [&](std::string_view k, value x) -> Result<void> {
    if (KEY("Hostname")) return F.str(x, "Hostname", c.hostname);
    if (KEY("Domainname")) return F.str(x, "Domainname", c.domainname);
    if (KEY("User")) return F.str(x, "User", c.user);
    if (KEY("AttachStdin")) return F.boolean(x, "AttachStdin", c.attach_stdin);
    if (KEY("AttachStdout")) return F.boolean(x, "AttachStdout", c.attach_stdout);
    if (KEY("AttachStderr")) return F.boolean(x, "AttachStderr", c.attach_stderr);
    if (KEY("ExposedPorts")) return F.keys(x, "ExposedPorts", c.exposed_ports);
    if (KEY("Tty")) return F.boolean(x, "Tty", c.tty);
    if (KEY("OpenStdin")) return F.boolean(x, "OpenStdin", c.open_stdin);
    if (KEY("StdinOnce")) return F.boolean(x, "StdinOnce", c.stdin_once);
    if (KEY("Env")) return F.strings(x, "Env", c.env);
    if (KEY("Cmd")) return F.opt_strings(x, "Cmd", c.cmd);
    if (KEY("Healthcheck")) return F.raw(x, "Healthcheck", c.healthcheck_raw);
    if (KEY("ArgsEscaped")) return F.boolean(x, "ArgsEscaped", c.args_escaped);
    if (KEY("Image")) return F.str(x, "Image", c.image);
    if (KEY("Volumes")) return F.keys(x, "Volumes", c.volumes);
    if (KEY("WorkingDir")) return F.str(x, "WorkingDir", c.working_dir);
    if (KEY("Entrypoint")) return F.opt_strings(x, "Entrypoint", c.entrypoint);
    if (KEY("NetworkDisabled")) return F.boolean(x, "NetworkDisabled", c.network_disabled);
    if (KEY("MacAddress")) return F.str(x, "MacAddress", c.mac_address);
    if (KEY("OnBuild")) return F.strings(x, "OnBuild", c.on_build);
    if (KEY("Labels")) return F.map(x, "Labels", c.labels);
    if (KEY("StopSignal")) return F.str(x, "StopSignal", c.stop_signal);
    if (KEY("StopTimeout")) {
      if (js::is_null(x)) return {};
      c.stop_timeout = static_cast<int>(BERTH_TRY(js::get_int(x, "StopTimeout")));
      return {};
    }
    if (KEY("Shell")) return F.opt_strings(x, "Shell", c.shell);
    return {};
  }));
  return c;
}

Result<MountSpec> parse_mount(value v, const std::string& field) {
  MountSpec m;
  Fields F{field};
  BERTH_TRY(js::for_each_field(v, field, [&](std::string_view k, value x) -> Result<void> {
    if (KEY("Type")) return F.str(x, "Type", m.type);
    if (KEY("Source")) return F.str(x, "Source", m.source);
    if (KEY("Target")) return F.str(x, "Target", m.target);
    if (KEY("ReadOnly")) return F.boolean(x, "ReadOnly", m.read_only);
    if (KEY("BindOptions")) {
      if (js::is_null(x)) return {};
      return js::for_each_field(x, F.f("BindOptions"), [&](std::string_view bk, value bx) -> Result<void> {
        if (iequals(bk, "Propagation")) return F.str(bx, "BindOptions.Propagation", m.propagation);
        return {};
      });
    }
    if (KEY("TmpfsOptions")) {
      if (js::is_null(x)) return {};
      return js::for_each_field(x, F.f("TmpfsOptions"), [&](std::string_view tk, value tx) -> Result<void> {
        if (iequals(tk, "SizeBytes")) return F.i64(tx, "TmpfsOptions.SizeBytes", m.tmpfs_size);
        if (iequals(tk, "Mode")) {
          m.tmpfs_mode = static_cast<uint32_t>(BERTH_TRY(js::get_int(tx, F.f("TmpfsOptions.Mode"))));
          return {};
        }
        return {};
      });
    }
    return {};
  }));
  return m;
}

Result<void> parse_host_fields(HostConfig& h, value v) {
  Fields F{"HostConfig"};
  return js::for_each_field(v, "HostConfig", [&](std::string_view k, value x) -> Result<void> {
    if (KEY("Binds")) return F.strings(x, "Binds", h.binds);
    if (KEY("ContainerIDFile")) return F.str(x, "ContainerIDFile", h.container_id_file);
    if (KEY("LogConfig")) {
      if (js::is_null(x)) return {};
      return js::for_each_field(x, F.f("LogConfig"), [&](std::string_view lk, value lx) -> Result<void> {
        if (iequals(lk, "Type")) return F.str(lx, "LogConfig.Type", h.log_config.type);
        if (iequals(lk, "Config")) return F.map(lx, "LogConfig.Config", h.log_config.config);
        return {};
      });
    }
    if (KEY("NetworkMode")) return F.str(x, "NetworkMode", h.network_mode);
    if (KEY("PortBindings")) return F.raw(x, "PortBindings", h.port_bindings_raw);
    if (KEY("RestartPolicy")) {
      if (js::is_null(x)) return {};
      return js::for_each_field(x, F.f("RestartPolicy"), [&](std::string_view rk, value rx) -> Result<void> {
        if (iequals(rk, "Name")) return F.str(rx, "RestartPolicy.Name", h.restart_policy.name);
        if (iequals(rk, "MaximumRetryCount"))
          return F.int32(rx, "RestartPolicy.MaximumRetryCount", h.restart_policy.maximum_retry_count);
        return {};
      });
    }
    if (KEY("AutoRemove")) return F.boolean(x, "AutoRemove", h.auto_remove);
    if (KEY("VolumesFrom")) return F.strings(x, "VolumesFrom", h.volumes_from);
    if (KEY("Mounts")) {
      h.mounts.clear();
      if (js::is_null(x)) return {};
      js::od::array arr;
      if (x.get_array().get(arr) != simdjson::SUCCESS)
        return std::unexpected(js::bad_field("HostConfig.Mounts", "expected an array"));
      size_t i = 0;
      for (auto el : arr) {
        value item;
        if (el.get(item) != simdjson::SUCCESS)
          return std::unexpected(js::bad_field("HostConfig.Mounts", "invalid element"));
        h.mounts.push_back(BERTH_TRY(parse_mount(item, str_cat("HostConfig.Mounts[", i++, "]"))));
      }
      return {};
    }
    if (KEY("CapAdd")) return F.strings(x, "CapAdd", h.cap_add);
    if (KEY("CapDrop")) return F.strings(x, "CapDrop", h.cap_drop);
    if (KEY("CgroupnsMode")) return F.str(x, "CgroupnsMode", h.cgroupns_mode);
    if (KEY("Dns")) return F.strings(x, "Dns", h.dns);
    if (KEY("DnsOptions")) return F.strings(x, "DnsOptions", h.dns_options);
    if (KEY("DnsSearch")) return F.strings(x, "DnsSearch", h.dns_search);
    if (KEY("ExtraHosts")) return F.strings(x, "ExtraHosts", h.extra_hosts);
    if (KEY("GroupAdd")) return F.strings(x, "GroupAdd", h.group_add);
    if (KEY("IpcMode")) return F.str(x, "IpcMode", h.ipc_mode);
    if (KEY("Cgroup")) return F.str(x, "Cgroup", h.cgroup);
    if (KEY("Links")) return F.strings(x, "Links", h.links);
    if (KEY("OomScoreAdj")) return F.int32(x, "OomScoreAdj", h.oom_score_adj);
    if (KEY("PidMode")) return F.str(x, "PidMode", h.pid_mode);
    if (KEY("Privileged")) return F.boolean(x, "Privileged", h.privileged);
    if (KEY("PublishAllPorts")) return F.boolean(x, "PublishAllPorts", h.publish_all_ports);
    if (KEY("ReadonlyRootfs")) return F.boolean(x, "ReadonlyRootfs", h.readonly_rootfs);
    if (KEY("SecurityOpt")) return F.strings(x, "SecurityOpt", h.security_opt);
    if (KEY("Tmpfs")) return F.map(x, "Tmpfs", h.tmpfs);
    if (KEY("UTSMode")) return F.str(x, "UTSMode", h.uts_mode);
    if (KEY("UsernsMode")) return F.str(x, "UsernsMode", h.userns_mode);
    if (KEY("ShmSize")) return F.i64(x, "ShmSize", h.shm_size);
    if (KEY("Sysctls")) return F.map(x, "Sysctls", h.sysctls);
    if (KEY("Runtime")) return F.str(x, "Runtime", h.runtime);
    if (KEY("Isolation")) return F.str(x, "Isolation", h.isolation);
    if (KEY("Init")) {
      if (js::is_null(x)) return {};
      h.init = BERTH_TRY(js::get_bool(x, "HostConfig.Init"));
      return {};
    }
    if (KEY("MaskedPaths")) {
      if (js::is_null(x)) return {};
      h.masked_paths = BERTH_TRY(js::get_string_array(x, "HostConfig.MaskedPaths"));
      return {};
    }
    if (KEY("ReadonlyPaths")) {
      if (js::is_null(x)) return {};
      h.readonly_paths = BERTH_TRY(js::get_string_array(x, "HostConfig.ReadonlyPaths"));
      return {};
    }
    if (KEY("ConsoleSize")) {
      h.console_size.clear();
      if (js::is_null(x)) return {};
      js::od::array arr;
      if (x.get_array().get(arr) != simdjson::SUCCESS) return {};
      for (auto el : arr) {
        int64_t n = 0;
        if (el.get_int64().get(n) == simdjson::SUCCESS) h.console_size.push_back(static_cast<int>(n));
      }
      return {};
    }
    if (KEY("CpuShares")) return F.i64(x, "CpuShares", h.cpu_shares);
    if (KEY("Memory")) return F.i64(x, "Memory", h.memory);
    if (KEY("CgroupParent")) return F.str(x, "CgroupParent", h.cgroup_parent);
    if (KEY("BlkioWeight")) return F.i64(x, "BlkioWeight", h.blkio_weight);
    if (KEY("CpuPeriod")) return F.i64(x, "CpuPeriod", h.cpu_period);
    if (KEY("CpuQuota")) return F.i64(x, "CpuQuota", h.cpu_quota);
    if (KEY("CpusetCpus")) return F.str(x, "CpusetCpus", h.cpuset_cpus);
    if (KEY("CpusetMems")) return F.str(x, "CpusetMems", h.cpuset_mems);
    if (KEY("Devices")) return F.raw(x, "Devices", h.devices_raw);
    if (KEY("DeviceCgroupRules")) return F.strings(x, "DeviceCgroupRules", h.device_cgroup_rules);
    if (KEY("MemoryReservation")) return F.i64(x, "MemoryReservation", h.memory_reservation);
    if (KEY("MemorySwap")) return F.i64(x, "MemorySwap", h.memory_swap);
    if (KEY("MemorySwappiness")) {
      if (js::is_null(x)) return {};
      h.memory_swappiness = BERTH_TRY(js::get_int(x, "HostConfig.MemorySwappiness"));
      return {};
    }
    if (KEY("NanoCpus") || KEY("NanoCPUs")) return F.i64(x, "NanoCpus", h.nano_cpus);
    if (KEY("OomKillDisable")) {
      if (js::is_null(x)) return {};
      h.oom_kill_disable = BERTH_TRY(js::get_bool(x, "HostConfig.OomKillDisable"));
      return {};
    }
    if (KEY("PidsLimit")) {
      if (js::is_null(x)) {
        h.pids_limit.reset();
        return {};
      }
      h.pids_limit = BERTH_TRY(js::get_int(x, "HostConfig.PidsLimit"));
      return {};
    }
    if (KEY("Ulimits")) {
      h.ulimits.clear();
      if (js::is_null(x)) return {};
      js::od::array arr;
      if (x.get_array().get(arr) != simdjson::SUCCESS)
        return std::unexpected(js::bad_field("HostConfig.Ulimits", "expected an array"));
      for (auto el : arr) {
        value item;
        if (el.get(item) != simdjson::SUCCESS)
          return std::unexpected(js::bad_field("HostConfig.Ulimits", "invalid element"));
        Ulimit u;
        Fields U{"HostConfig.Ulimits"};
        BERTH_TRY(js::for_each_field(item, "HostConfig.Ulimits", [&](std::string_view uk, value ux) -> Result<void> {
          if (iequals(uk, "Name")) return U.str(ux, "Name", u.name);
          if (iequals(uk, "Soft")) return U.i64(ux, "Soft", u.soft);
          if (iequals(uk, "Hard")) return U.i64(ux, "Hard", u.hard);
          return {};
        }));
        h.ulimits.push_back(std::move(u));
      }
      return {};
    }
    return {};
  });
}

#undef KEY

void write_opt_strings(js::Writer& w, std::string_view key,
                       const std::optional<std::vector<std::string>>& v) {
  w.key(key);
  if (!v) w.null();
  else w.string_array(*v);
}

void write_strings_or_null(js::Writer& w, std::string_view key, const std::vector<std::string>& v) {
  w.key(key);
  if (v.empty()) w.null();
  else w.string_array(v);
}

void write_set(js::Writer& w, std::string_view key, const std::vector<std::string>& v) {
  w.key(key);
  if (v.empty()) {
    w.null();
    return;
  }
  w.begin_object();
  for (const auto& s : v) w.key(s).begin_object().end_object();
  w.end_object();
}

void write_map(js::Writer& w, std::string_view key, const std::map<std::string, std::string>& m,
               bool null_if_empty) {
  w.key(key);
  if (m.empty() && null_if_empty) {
    w.null();
    return;
  }
  w.begin_object();
  for (const auto& [k, v] : m) w.kv(k, v);
  w.end_object();
}

}  // namespace

Result<CreateRequest> parse_create(std::string_view body) {
  auto p = BERTH_TRY(js::parse(body));
  CreateRequest req;
  js::od::object root;
  if (p->doc.get_object().get(root) != simdjson::SUCCESS)
    return fail(Errc::invalid_argument, "invalid JSON: expected an object");
  // Config fields sit at the top level: re-read them as one object.
  std::string config_text = "{";
  bool first = true;
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS)
      return fail(Errc::invalid_argument, "invalid JSON: bad object key");
    std::string k(key);
    value v;
    if (field.value().get(v) != simdjson::SUCCESS)
      return fail(Errc::invalid_argument, "invalid JSON: bad value");
    if (iequals(k, "HostConfig")) {
      if (!js::is_null(v)) BERTH_TRY(parse_host_fields(req.host, v));
      continue;
    }
    if (iequals(k, "NetworkingConfig")) {
      if (!js::is_null(v)) req.networking_raw = BERTH_TRY(js::get_raw(v, "NetworkingConfig"));
      continue;
    }
    std::string raw = BERTH_TRY(js::get_raw(v, k));
    if (!first) config_text.push_back(',');
    first = false;
    json::append_string(config_text, k);
    config_text.push_back(':');
    config_text.append(raw);
  }
  config_text.push_back('}');
  auto cp = BERTH_TRY(js::parse(config_text));
  value cv;
  if (cp->doc.get_value().get(cv) != simdjson::SUCCESS)
    return fail(Errc::invalid_argument, "invalid JSON");
  req.config = BERTH_TRY(parse_config_object(cv));
  return req;
}

Result<HostConfig> parse_host_config(std::string_view text) {
  auto p = BERTH_TRY(js::parse(text));
  HostConfig h;
  value v;
  if (p->doc.get_value().get(v) != simdjson::SUCCESS) return fail(Errc::invalid_argument, "invalid JSON");
  BERTH_TRY(parse_host_fields(h, v));
  return h;
}

void write_config(js::Writer& w, const Config& c) {
  w.begin_object();
  w.kv("Hostname", c.hostname).kv("Domainname", c.domainname).kv("User", c.user);
  w.kv("AttachStdin", c.attach_stdin).kv("AttachStdout", c.attach_stdout);
  w.kv("AttachStderr", c.attach_stderr);
  if (!c.exposed_ports.empty()) write_set(w, "ExposedPorts", c.exposed_ports);
  w.kv("Tty", c.tty).kv("OpenStdin", c.open_stdin).kv("StdinOnce", c.stdin_once);
  write_strings_or_null(w, "Env", c.env);
  write_opt_strings(w, "Cmd", c.cmd);
  if (!c.healthcheck_raw.empty()) w.key("Healthcheck").raw(c.healthcheck_raw);
  if (c.args_escaped) w.kv("ArgsEscaped", true);
  w.kv("Image", c.image);
  write_set(w, "Volumes", c.volumes);
  w.kv("WorkingDir", c.working_dir);
  write_opt_strings(w, "Entrypoint", c.entrypoint);
  if (c.network_disabled) w.kv("NetworkDisabled", true);
  if (!c.mac_address.empty()) w.kv("MacAddress", c.mac_address);
  write_strings_or_null(w, "OnBuild", c.on_build);
  write_map(w, "Labels", c.labels, false);
  if (!c.stop_signal.empty()) w.kv("StopSignal", c.stop_signal);
  if (c.stop_timeout) w.kv("StopTimeout", *c.stop_timeout);
  if (c.shell) w.key("Shell").string_array(*c.shell);
  w.end_object();
}

void write_host_config(js::Writer& w, const HostConfig& h) {
  w.begin_object();
  write_strings_or_null(w, "Binds", h.binds);
  w.kv("ContainerIDFile", h.container_id_file);
  w.key("LogConfig").begin_object().kv("Type", h.log_config.type);
  write_map(w, "Config", h.log_config.config, false);
  w.end_object();
  w.kv("NetworkMode", h.network_mode);
  w.key("PortBindings");
  if (h.port_bindings_raw.empty()) w.begin_object().end_object();
  else w.raw(h.port_bindings_raw);
  w.key("RestartPolicy").begin_object().kv("Name", h.restart_policy.name);
  w.kv("MaximumRetryCount", h.restart_policy.maximum_retry_count).end_object();
  w.kv("AutoRemove", h.auto_remove).kv("VolumeDriver", "");
  write_strings_or_null(w, "VolumesFrom", h.volumes_from);
  w.key("ConsoleSize").begin_array();
  for (size_t i = 0; i < 2; ++i) w.value(i < h.console_size.size() ? h.console_size[i] : 0);
  w.end_array();
  write_strings_or_null(w, "CapAdd", h.cap_add);
  write_strings_or_null(w, "CapDrop", h.cap_drop);
  w.kv("CgroupnsMode", h.cgroupns_mode);
  w.key("Dns").string_array(h.dns);
  w.key("DnsOptions").string_array(h.dns_options);
  w.key("DnsSearch").string_array(h.dns_search);
  write_strings_or_null(w, "ExtraHosts", h.extra_hosts);
  write_strings_or_null(w, "GroupAdd", h.group_add);
  w.kv("IpcMode", h.ipc_mode).kv("Cgroup", h.cgroup);
  write_strings_or_null(w, "Links", h.links);
  w.kv("OomScoreAdj", h.oom_score_adj).kv("PidMode", h.pid_mode);
  w.kv("Privileged", h.privileged).kv("PublishAllPorts", h.publish_all_ports);
  w.kv("ReadonlyRootfs", h.readonly_rootfs);
  write_strings_or_null(w, "SecurityOpt", h.security_opt);
  if (!h.tmpfs.empty()) write_map(w, "Tmpfs", h.tmpfs, false);
  w.kv("UTSMode", h.uts_mode).kv("UsernsMode", h.userns_mode);
  w.kv("ShmSize", static_cast<long long>(h.shm_size));
  if (!h.sysctls.empty()) write_map(w, "Sysctls", h.sysctls, false);
  w.kv("Runtime", h.runtime).kv("Isolation", h.isolation);
  w.kv("CpuShares", static_cast<long long>(h.cpu_shares));
  w.kv("Memory", static_cast<long long>(h.memory)).kv("NanoCpus", static_cast<long long>(h.nano_cpus));
  w.kv("CgroupParent", h.cgroup_parent).kv("BlkioWeight", static_cast<long long>(h.blkio_weight));
  w.kv_null("BlkioWeightDevice").kv_null("BlkioDeviceReadBps").kv_null("BlkioDeviceWriteBps");
  w.kv_null("BlkioDeviceReadIOps").kv_null("BlkioDeviceWriteIOps");
  w.kv("CpuPeriod", static_cast<long long>(h.cpu_period));
  w.kv("CpuQuota", static_cast<long long>(h.cpu_quota));
  w.kv("CpuRealtimePeriod", 0).kv("CpuRealtimeRuntime", 0);
  w.kv("CpusetCpus", h.cpuset_cpus).kv("CpusetMems", h.cpuset_mems);
  w.key("Devices");
  if (h.devices_raw.empty()) w.begin_array().end_array();
  else w.raw(h.devices_raw);
  write_strings_or_null(w, "DeviceCgroupRules", h.device_cgroup_rules);
  w.kv_null("DeviceRequests");
  w.kv("MemoryReservation", static_cast<long long>(h.memory_reservation));
  w.kv("MemorySwap", static_cast<long long>(h.memory_swap));
  w.key("MemorySwappiness");
  if (h.memory_swappiness) w.value(static_cast<long long>(*h.memory_swappiness));
  else w.null();
  w.key("OomKillDisable");
  if (h.oom_kill_disable) w.value(*h.oom_kill_disable);
  else w.null();
  w.key("PidsLimit");
  if (h.pids_limit) w.value(static_cast<long long>(*h.pids_limit));
  else w.null();
  w.key("Ulimits");
  if (h.ulimits.empty()) {
    w.null();
  } else {
    w.begin_array();
    for (const auto& u : h.ulimits)
      w.begin_object().kv("Name", u.name).kv("Hard", static_cast<long long>(u.hard))
          .kv("Soft", static_cast<long long>(u.soft)).end_object();
    w.end_array();
  }
  w.kv("CpuCount", 0).kv("CpuPercent", 0).kv("IOMaximumIOps", 0).kv("IOMaximumBandwidth", 0);
  if (!h.mounts.empty()) {
    w.key("Mounts").begin_array();
    for (const auto& m : h.mounts) {
      w.begin_object().kv("Type", m.type).kv("Source", m.source).kv("Target", m.target);
      if (m.read_only) w.kv("ReadOnly", true);
      if (!m.propagation.empty())
        w.key("BindOptions").begin_object().kv("Propagation", m.propagation).end_object();
      if (m.tmpfs_size || m.tmpfs_mode) {
        w.key("TmpfsOptions").begin_object();
        if (m.tmpfs_size) w.kv("SizeBytes", static_cast<long long>(m.tmpfs_size));
        if (m.tmpfs_mode) w.kv("Mode", m.tmpfs_mode);
        w.end_object();
      }
      w.end_object();
    }
    w.end_array();
  }
  if (h.init) w.kv("Init", *h.init);
  if (h.masked_paths) w.key("MaskedPaths").string_array(*h.masked_paths);
  if (h.readonly_paths) w.key("ReadonlyPaths").string_array(*h.readonly_paths);
  w.end_object();
}

std::string to_stored_json(const Config& c, const HostConfig& h) {
  std::string out;
  js::Writer w(out);
  w.begin_object();
  w.key("Config");
  {
    std::string cfg;
    js::Writer cw(cfg);
    write_config(cw, c);
    w.raw(cfg);
  }
  w.key("HostConfig");
  {
    std::string hc;
    js::Writer hw(hc);
    write_host_config(hw, h);
    w.raw(hc);
  }
  w.end_object();
  return out;
}

Result<CreateRequest> from_stored_json(std::string_view text) {
  auto p = BERTH_TRY(js::parse(text));
  CreateRequest r;
  BERTH_TRY(js::for_each_root_field(*p, [&](std::string_view k, value v) -> Result<void> {
    if (k == "Config") {
      r.config = BERTH_TRY(parse_config_object(v));
      return {};
    }
    if (k == "HostConfig") return parse_host_fields(r.host, v);
    return {};
  }));
  return r;
}

}  // namespace berth::core::container
