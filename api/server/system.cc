// GET/HEAD /_ping, GET /version, GET /info.
#include <time.h>

#include "api/json/writer.h"
#include "api/server/api.h"
#include "api/server/errors.h"
#include "api/server/routes.h"
#include "core/base/strings.h"
#include "io/pool.h"

namespace berth::api {

std::string common_headers(const ApiContext& ctx) {
  return str_cat("Api-Version: ", kApiVersion,
                 "\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: berth/",
                 ctx.server_version, " (linux)\r\n");
}

Router build_router(ApiContext& ctx) {
  Router r;
  add_unimplemented_routes(r);
  add_system_routes(r, ctx);
  if (ctx.engine) {
    add_image_routes(r, ctx);
    add_container_routes(r, ctx);
    add_registry_routes(r, ctx);
  }
  return r;
}

namespace {

std::string rfc3339_now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
  return buf;
}

io::Task<void> ping(Request& req, Response& res) {
  res.add_header("Cache-Control", "no-cache, no-store, must-revalidate");
  res.add_header("Pragma", "no-cache");
  res.add_header("Swarm", "inactive");
  if (req.is_head())
    res.send(200, "text/plain; charset=utf-8", "");
  else
    res.send(200, "text/plain; charset=utf-8", "OK");
  co_return;
}

std::string version_json(const ApiContext& c) {
  std::string out;
  json::Writer w(out);
  w.begin_object();
  w.key("Platform").begin_object().kv("Name", "berth").end_object();
  w.key("Components").begin_array().begin_object();
  w.kv("Name", "Engine").kv("Version", c.server_version);
  w.key("Details").begin_object();
  w.kv("ApiVersion", kApiVersion).kv("Arch", c.host.go_arch).kv("BuildTime", c.build_time);
  w.kv("Experimental", "false").kv("GitCommit", c.git_commit).kv("GoVersion", c.compiler);
  w.kv("KernelVersion", c.host.kernel_version).kv("MinAPIVersion", kMinApiVersion);
  w.kv("Os", "linux");
  w.end_object().end_object().end_array();
  w.kv("Version", c.server_version).kv("ApiVersion", kApiVersion);
  w.kv("MinAPIVersion", kMinApiVersion).kv("GitCommit", c.git_commit);
  w.kv("GoVersion", c.compiler).kv("Os", "linux").kv("Arch", c.host.go_arch);
  w.kv("KernelVersion", c.host.kernel_version).kv("BuildTime", c.build_time);
  w.end_object();
  return out;
}

std::string info_json(const ApiContext& c) {
  ObjectCounts n = c.counts ? c.counts() : ObjectCounts{};
  const sys::HostInfo& h = c.host;
  std::string out;
  json::Writer w(out);
  w.begin_object();
  w.kv("ID", c.daemon_id);
  w.kv("Containers", n.containers).kv("ContainersRunning", n.running);
  w.kv("ContainersPaused", n.paused).kv("ContainersStopped", n.stopped);
  w.kv("Images", n.images);
  w.kv("Driver", c.storage_driver);
  w.key("DriverStatus").begin_array();
  w.begin_array().value("Backing Filesystem").value(c.backing_fs).end_array();
  w.begin_array().value("Supports d_type").value("true").end_array();
  w.begin_array().value("Using metacopy").value("false").end_array();
  w.begin_array().value("Native Overlay Diff").value("true").end_array();
  w.begin_array().value("userxattr").value("false").end_array();
  w.end_array();
  w.key("Plugins").begin_object();
  w.key("Volume").begin_array().end_array();
  w.key("Network").begin_array().value("host").value("none").end_array();
  w.kv_null("Authorization");
  w.key("Log").begin_array().end_array();
  w.end_object();
  w.kv("MemoryLimit", h.memory_limit).kv("SwapLimit", h.swap_limit);
  w.kv("CpuCfsPeriod", h.cpu_cfs_period).kv("CpuCfsQuota", h.cpu_cfs_quota);
  w.kv("CPUShares", h.cpu_shares).kv("CPUSet", h.cpuset).kv("PidsLimit", h.pids_limit);
  w.kv("OomKillDisable", h.oom_kill_disable);
  w.kv("IPv4Forwarding", h.ipv4_forwarding);
  w.kv("BridgeNfIptables", h.bridge_nf_iptables).kv("BridgeNfIp6tables", h.bridge_nf_ip6tables);
  w.kv("Debug", c.debug);
  w.kv("NFd", sys::count_open_fds()).kv("NGoroutines", sys::count_threads());
  w.kv("SystemTime", rfc3339_now());
  w.kv("LoggingDriver", "local");
  w.kv("CgroupDriver", "cgroupfs").kv("CgroupVersion", std::to_string(h.cgroup_version));
  w.kv("NEventsListener", 0);
  w.kv("KernelVersion", h.kernel_version).kv("OperatingSystem", h.operating_system);
  w.kv("OSVersion", h.os_version).kv("OSType", "linux").kv("Architecture", h.architecture);
  w.kv("IndexServerAddress", "https://index.docker.io/v1/");
  w.key("RegistryConfig").begin_object();
  w.kv_null("AllowNondistributableArtifactsCIDRs");
  w.kv_null("AllowNondistributableArtifactsHostnames");
  w.key("InsecureRegistryCIDRs").begin_array().value("127.0.0.0/8").end_array();
  w.key("IndexConfigs").begin_object();
  w.key("docker.io").begin_object();
  w.kv("Name", "docker.io").key("Mirrors").begin_array().end_array();
  w.kv("Secure", true).kv("Official", true);
  w.end_object().end_object();
  w.kv_null("Mirrors");
  w.end_object();
  w.kv("NCPU", h.ncpu).kv("MemTotal", static_cast<long long>(h.mem_total));
  w.kv_null("GenericResources");
  w.kv("DockerRootDir", c.root_dir);
  w.kv("HttpProxy", "").kv("HttpsProxy", "").kv("NoProxy", "");
  w.kv("Name", h.hostname);
  w.key("Labels").begin_array().end_array();
  w.kv("ExperimentalBuild", false);
  w.kv("ServerVersion", c.server_version);
  w.key("Runtimes").begin_object();
  w.key("berth").begin_object().kv("path", "berthd").end_object();
  w.end_object();
  w.kv("DefaultRuntime", "berth");
  w.key("Swarm").begin_object();
  w.kv("NodeID", "").kv("NodeAddr", "").kv("LocalNodeState", "inactive");
  w.kv("ControlAvailable", false).kv("Error", "").kv_null("RemoteManagers");
  w.end_object();
  w.kv("LiveRestoreEnabled", false);
  w.kv("Isolation", "");
  w.kv("InitBinary", "");
  w.key("ContainerdCommit").begin_object().kv("ID", "").end_object();
  w.key("RuncCommit").begin_object().kv("ID", "").end_object();
  w.key("InitCommit").begin_object().kv("ID", "").end_object();
  w.key("SecurityOptions").begin_array().end_array();
  w.kv_null("DefaultAddressPools");
  w.key("CDISpecDirs").begin_array().end_array();
  w.key("Warnings").begin_array();
  if (!h.swap_limit && h.memory_limit) w.value("WARNING: No swap limit support");
  w.end_array();
  w.end_object();
  return out;
}

io::Task<void> version(Request&, Response& res, const ApiContext* c) {
  send_json(res, 200, version_json(*c));
  co_return;
}

io::Task<void> info(Request&, Response& res, const ApiContext* c) {
  // Counting reads the state database: off the reactor.
  auto call = [c] { return info_json(*c); };
  std::string body = co_await io::offload(std::move(call));
  send_json(res, 200, std::move(body));
}

}  // namespace

void add_system_routes(Router& r, ApiContext& ctx) {
  r.add("GET", "/_ping", &ping);
  r.add("HEAD", "/_ping", &ping);
  ApiContext* c = &ctx;
  r.add("GET", "/version", [c](Request& q, Response& s) { return version(q, s, c); });
  r.add("GET", "/info", [c](Request& q, Response& s) { return info(q, s, c); });
}

}  // namespace berth::api
