// berthd: the berth container engine daemon.
#include <cstdio>
#include <cstring>
#include <string>

#include "core/base/strings.h"
#include "tools/berthd/daemon.h"

namespace {

void usage(FILE* out) {
  std::fputs(
      "Usage: berthd [OPTIONS]\n"
      "\n"
      "The berth container engine daemon: serves the Docker Engine API.\n"
      "\n"
      "Options:\n"
      "  --root DIR         state and image storage (default /var/lib/berth)\n"
      "  -H, --host URL     listen address, repeatable: unix:///path or tcp://ADDR:PORT\n"
      "                     (default unix:///run/berth.sock)\n"
      "  --threads N        reactor threads (default: one per core)\n"
      "  --log-level LEVEL  debug, info, warn, error (default info)\n"
      "  -D, --debug        same as --log-level debug\n"
      "  --pidfile FILE     write the daemon's pid to FILE\n"
      "  --cgroup-parent P  parent of containers' cgroups (default: berth below the\n"
      "                     daemon's own cgroup; /P from the hierarchy root)\n"
      "  --insecure-registry R  a registry (HOST[:PORT] or an IPv4 CIDR) that may use\n"
      "                     plain HTTP or an unverified certificate; repeatable\n"
      "                     (127.0.0.0/8 and localhost always may, as docker's)\n"
      "  --registry-certs DIR  CA certificates and client keys per registry, in\n"
      "                     docker's certs.d layout: DIR/HOST:PORT/ca.crt\n"
      "                     (default /etc/docker/certs.d)\n"
      "  --max-concurrent-downloads N  layers pulled at once (default 3)\n"
      "  --max-concurrent-uploads N    layers pushed at once (default 5)\n"
      "  --netns-pool N     network namespaces kept ready for containers (default 4;\n"
      "                     0: each container's clone makes its own)\n"
      "  --cgroup-spares N  cgroup v1 only: container cgroups made ahead (default 4;\n"
      "                     0: each start makes its own)\n"
      "  --registry-strict-loopback  for tests: loopback registries are not\n"
      "                     insecure by default\n"
      "  --shutdown-timeout SECONDS  grace for requests in flight on SIGTERM (default 10)\n"
      "  -v, --version      print the version and exit\n"
      "  -h, --help         print this help\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace berth;
  daemon::Options opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool has_inline = false;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    auto need = [&](const char* flag) -> std::string {
      if (has_inline) return value;
      if (i + 1 >= argc) {
        std::fprintf(stderr, "berthd: flag %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    // The flag's value as a number from lo to hi; else a message, exit 2.
    auto number = [&](const char* flag, int lo, int hi) -> int {
      std::string v = need(flag);
      auto n = parse_number<int>(v);
      if (!n || *n < lo || *n > hi) {
        std::fprintf(stderr, "berthd: %s must be a number from %d to %d, got \"%s\"\n", flag, lo,
                     hi, v.c_str());
        std::exit(2);
      }
      return *n;
    };
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "-v" || a == "--version") {
      std::printf("berthd version %s\n", BERTH_VERSION);
      return 0;
    } else if (a == "--root" || a == "--data-root" || a == "-g") {
      opts.root = need("--root");
    } else if (a == "-H" || a == "--host") {
      opts.hosts.push_back(need("--host"));
    } else if (a == "--threads") {
      opts.threads = number("--threads", 1, 1024);
    } else if (a == "--log-level" || a == "-l") {
      std::string v = need("--log-level");
      if (!log::parse_level(v, &opts.log_level)) {
        std::fprintf(stderr, "berthd: --log-level must be debug, info, warn or error, got \"%s\"\n",
                     v.c_str());
        return 2;
      }
    } else if (a == "-D" || a == "--debug") {
      opts.log_level = log::Level::debug;
    } else if (a == "--pidfile" || a == "-p") {
      opts.pidfile = need("--pidfile");
    } else if (a == "--cgroup-parent") {
      opts.cgroup_parent = need("--cgroup-parent");
    } else if (a == "--insecure-registry") {
      opts.insecure_registries.push_back(need("--insecure-registry"));
    } else if (a == "--registry-certs") {
      opts.registry_certs = need("--registry-certs");
    } else if (a == "--registry-strict-loopback") {
      opts.registry_strict_loopback = true;
    } else if (a == "--max-concurrent-downloads" || a == "--max-concurrent-uploads") {
      unsigned n = static_cast<unsigned>(number(a.c_str(), 1, 64));
      (a == "--max-concurrent-downloads" ? opts.max_downloads : opts.max_uploads) = n;
    } else if (a == "--netns-pool" || a == "--cgroup-spares") {
      (a == "--netns-pool" ? opts.netns_pool : opts.cgroup_spares) = number(a.c_str(), 0, 256);
    } else if (a == "--shutdown-timeout") {
      std::string v = need("--shutdown-timeout");
      auto n = parse_number<int>(v);
      if (!n || *n < 0) {
        std::fprintf(stderr, "berthd: --shutdown-timeout must be seconds >= 0, got \"%s\"\n",
                     v.c_str());
        return 2;
      }
      opts.shutdown_grace_s = *n;
    } else {
      std::fprintf(stderr, "berthd: unknown flag %s (see berthd --help)\n", argv[i]);
      return 2;
    }
  }
  return daemon::run(opts);
}
