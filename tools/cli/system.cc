// berth version, berth info.
#include <cstdio>
#include <map>

#include "api/json/reader.h"
#include "core/base/strings.h"
#include "tools/cli/cli.h"

namespace berth::cli {

namespace {

std::string host_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "unknown";
#endif
}

// Binary sizes as docker's info prints them ("23.47GiB").
std::string bytes_iec(double b) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g%s", b, units[u]);
  return buf;
}

}  // namespace

io::Task<int> cmd_version(Cli& cli, Args args) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::puts("Usage: berth version\n\nShow the berth version information");
      co_return 0;
    }
    std::fprintf(stderr, "berth version: unexpected argument %s\n", a.c_str());
    co_return 2;
  }
  std::printf(
      "Client:\n Version:           %s\n API version:       1.44\n OS/Arch:           linux/%s\n",
      BERTH_VERSION, host_arch().c_str());
  std::fflush(stdout);
  auto v = co_await cli.client.version();
  if (!v) co_return report(v.error());
  std::printf("\nServer: %s\n Engine:\n", v->platform.c_str());
  std::printf("  Version:          %s\n", v->version.c_str());
  std::printf("  API version:      %s (minimum version %s)\n", v->api_version.c_str(),
              v->min_api_version.c_str());
  std::printf("  Compiler:         %s\n", v->go_version.c_str());
  std::printf("  Git commit:       %s\n", v->git_commit.c_str());
  std::printf("  Built:            %s\n", v->build_time.c_str());
  std::printf("  OS/Arch:          %s/%s\n", v->os.c_str(), v->arch.c_str());
  std::printf("  Kernel Version:   %s\n", v->kernel_version.c_str());
  co_return 0;
}

io::Task<int> cmd_info(Cli& cli, Args args) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::puts("Usage: berth info\n\nDisplay system-wide information");
      co_return 0;
    }
    std::fprintf(stderr, "berth info: unexpected argument %s\n", a.c_str());
    co_return 2;
  }
  auto body = co_await cli.client.info();
  if (!body) co_return report(body.error());
  auto p = api::json::parse(*body);
  if (!p) co_return report(p.error());
  // Scalars by key, in the order docker prints them.
  std::map<std::string, std::string> f;
  std::vector<std::pair<std::string, std::string>> driver_status;
  std::vector<std::string> warnings;
  namespace js = api::json;
  auto r = js::for_each_root_field(**p, [&](std::string_view k, js::od::value v) -> Result<void> {
    js::od::json_type t;
    if (v.type().get(t) != simdjson::SUCCESS) return {};
    if (k == "DriverStatus" && t == js::od::json_type::array) {
      js::od::array outer;
      if (v.get_array().get(outer) != simdjson::SUCCESS) return {};
      for (auto pair : outer) {
        js::od::array inner;
        if (pair.get_array().get(inner) != simdjson::SUCCESS) continue;
        std::vector<std::string> kv;
        for (auto s : inner) {
          std::string_view sv;
          if (s.get_string().get(sv) == simdjson::SUCCESS) kv.emplace_back(sv);
        }
        if (kv.size() == 2) driver_status.emplace_back(kv[0], kv[1]);
      }
      return {};
    }
    if (k == "Warnings" && t == js::od::json_type::array) {
      auto w = js::get_string_array(v, k);
      if (w) warnings = *w;
      return {};
    }
    switch (t) {
      case js::od::json_type::string: {
        std::string_view s;
        if (v.get_string().get(s) == simdjson::SUCCESS) f[std::string(k)] = std::string(s);
        break;
      }
      case js::od::json_type::number:
      case js::od::json_type::boolean: {
        std::string_view raw = v.raw_json_token();
        f[std::string(k)] = std::string(trim(raw));
        break;
      }
      default: break;
    }
    return {};
  });
  if (!r) co_return report(r.error());
  auto g = [&](const char* k) { return f.count(k) ? f[k] : std::string(); };
  std::printf("Server:\n");
  std::printf(" Containers: %s\n", g("Containers").c_str());
  std::printf("  Running: %s\n", g("ContainersRunning").c_str());
  std::printf("  Paused: %s\n", g("ContainersPaused").c_str());
  std::printf("  Stopped: %s\n", g("ContainersStopped").c_str());
  std::printf(" Images: %s\n", g("Images").c_str());
  std::printf(" Server Version: %s\n", g("ServerVersion").c_str());
  std::printf(" Storage Driver: %s\n", g("Driver").c_str());
  for (const auto& [k, v] : driver_status) std::printf("  %s: %s\n", k.c_str(), v.c_str());
  std::printf(" Logging Driver: %s\n", g("LoggingDriver").c_str());
  std::printf(" Cgroup Driver: %s\n", g("CgroupDriver").c_str());
  std::printf(" Cgroup Version: %s\n", g("CgroupVersion").c_str());
  std::printf(" Default Runtime: %s\n", g("DefaultRuntime").c_str());
  std::printf(" Kernel Version: %s\n", g("KernelVersion").c_str());
  std::printf(" Operating System: %s\n", g("OperatingSystem").c_str());
  std::printf(" OSType: %s\n", g("OSType").c_str());
  std::printf(" Architecture: %s\n", g("Architecture").c_str());
  std::printf(" CPUs: %s\n", g("NCPU").c_str());
  auto mem = parse_number<double>(g("MemTotal"));
  std::printf(" Total Memory: %s\n", mem ? bytes_iec(*mem).c_str() : g("MemTotal").c_str());
  std::printf(" Name: %s\n", g("Name").c_str());
  std::printf(" ID: %s\n", g("ID").c_str());
  std::printf(" Root Dir: %s\n", g("DockerRootDir").c_str());
  std::printf(" Debug Mode: %s\n", g("Debug").c_str());
  for (const auto& w : warnings) std::fprintf(stderr, "%s\n", w.c_str());
  co_return 0;
}

}  // namespace berth::cli
