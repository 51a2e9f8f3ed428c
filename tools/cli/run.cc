// berth run and create: the container options as docker's CLI turns them
// into a create request (its defaults, normalizations and messages), the
// pull of a missing image (--pull), and docker's exit codes for a refused
// run. What follows the create (attach, wait, start) is start.cc's.
#include <sys/ioctl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "layers/image/reference.h"
#include "tools/cli/cli.h"
#include "tools/cli/containers.h"
#include "tools/cli/flags.h"
#include "tools/cli/format.h"
#include "tools/cli/query.h"

namespace berth::cli {

namespace {

// --- the options of run and create -------------------------------------------------

struct ContainerOptions {
  bool detach = false, rm = false, interactive = false, tty = false, read_only = false;
  bool privileged = false, init = false, quiet = false, sig_proxy = true;
  std::vector<std::string> env, env_file, tmpfs, cap_add, cap_drop, security_opt, labels;
  std::vector<std::string> volumes, ulimits, dns, add_host, log_opt;
  std::string workdir, user, name, memory, cpus, pids_limit, entrypoint, network, hostname;
  std::string restart, stop_signal, stop_timeout, log_driver, shm_size, pull = "missing";
  std::string ipc, pid, uts, userns, platform;
  std::string image;
  std::vector<std::string> args;
};

void add_container_flags(SplitFlags& f, ContainerOptions& o, bool run) {
  if (run) {
    f.add_bool('d', "detach", &o.detach, "Run container in background and print container ID")
        .add_bool(0, "sig-proxy", &o.sig_proxy, "Proxy received signals to the process");
  }
  f.add_list(0, "add-host", &o.add_host, "list", "Add a custom host-to-IP mapping (host:ip)")
      .add_list(0, "cap-add", &o.cap_add, "list", "Add Linux capabilities")
      .add_list(0, "cap-drop", &o.cap_drop, "list", "Drop Linux capabilities")
      .add_string(0, "cpus", &o.cpus, "decimal", "Number of CPUs")
      .add_list(0, "dns", &o.dns, "list", "Set custom DNS servers")
      .add_list('e', "env", &o.env, "list", "Set environment variables")
      .add_list(0, "env-file", &o.env_file, "list", "Read in a file of environment variables")
      .add_string(0, "entrypoint", &o.entrypoint, "string",
                  "Overwrite the default ENTRYPOINT of the image")
      .add_string('h', "hostname", &o.hostname, "string", "Container host name")
      .add_bool(0, "init", &o.init,
                "Run an init inside the container that forwards signals and reaps processes")
      .add_bool('i', "interactive", &o.interactive, "Keep STDIN open even if not attached")
      .add_string(0, "ipc", &o.ipc, "string", "IPC mode to use")
      .add_list('l', "label", &o.labels, "list", "Set meta data on a container")
      .add_string(0, "log-driver", &o.log_driver, "string", "Logging driver for the container")
      .add_list(0, "log-opt", &o.log_opt, "list", "Log driver options")
      .add_string('m', "memory", &o.memory, "bytes", "Memory limit")
      .add_string(0, "name", &o.name, "string", "Assign a name to the container")
      .add_string(0, "network", &o.network, "network", "Connect a container to a network")
      .add_string(0, "pid", &o.pid, "string", "PID namespace to use")
      .add_string(0, "pids-limit", &o.pids_limit, "int",
                  "Tune container pids limit (set -1 for unlimited)")
      .add_string(0, "platform", &o.platform, "string",
                  "Set platform if server is multi-platform capable")
      .add_bool(0, "privileged", &o.privileged, "Give extended privileges to this container")
      .add_string(0, "pull", &o.pull, "string",
                  "Pull image before running (\"always\", \"missing\", \"never\")")
      .add_bool('q', "quiet", &o.quiet, "Suppress the pull output")
      .add_bool(0, "read-only", &o.read_only, "Mount the container's root filesystem as read only")
      .add_string(0, "restart", &o.restart, "string",
                  "Restart policy to apply when a container exits")
      .add_bool(0, "rm", &o.rm,
                "Automatically remove the container and its associated anonymous "
                "volumes when it exits")
      .add_list(0, "security-opt", &o.security_opt, "list", "Security Options")
      .add_string(0, "shm-size", &o.shm_size, "bytes", "Size of /dev/shm")
      .add_string(0, "stop-signal", &o.stop_signal, "string", "Signal to stop the container")
      .add_string(0, "stop-timeout", &o.stop_timeout, "int",
                  "Timeout (in seconds) to stop a container")
      .add_list(0, "tmpfs", &o.tmpfs, "list", "Mount a tmpfs directory")
      .add_bool('t', "tty", &o.tty, "Allocate a pseudo-TTY")
      .add_list(0, "ulimit", &o.ulimits, "ulimit", "Ulimit options")
      .add_string('u', "user", &o.user, "string",
                  "Username or UID (format: <name|uid>[:<group|gid>])")
      .add_string(0, "userns", &o.userns, "string", "User namespace to use")
      .add_string(0, "uts", &o.uts, "string", "UTS namespace to use")
      .add_list('v', "volume", &o.volumes, "list", "Bind mount a volume")
      .add_string('w', "workdir", &o.workdir, "string", "Working directory inside the container");
}

// go-units RAMInBytes: "512m", "1.5g", "100" (bytes), binary multipliers.
std::optional<int64_t> ram_in_bytes(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  char* end = nullptr;
  std::string num(s.substr(0, i));
  double v = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size()) return std::nullopt;
  std::string unit = to_lower(trim(s.substr(i)));
  double mult = 1;
  if (!unit.empty()) {
    static const std::string kUnits = "kmgtp";
    auto pos = kUnits.find(unit[0]);
    if (pos == std::string::npos) {
      if (unit != "b") return std::nullopt;
    } else {
      mult = std::pow(1024.0, static_cast<double>(pos + 1));
      std::string rest = unit.substr(1);
      if (!rest.empty() && rest != "b" && rest != "ib" && rest != "i") return std::nullopt;
    }
  }
  return static_cast<int64_t>(v * mult);
}

// docker's NanoCPUs: a decimal number of CPUs, at most nine decimals.
std::optional<int64_t> nano_cpus(const std::string& s) {
  if (s.empty()) return std::nullopt;
  size_t dot = s.find('.');
  std::string whole = s.substr(0, dot), frac = dot == std::string::npos ? "" : s.substr(dot + 1);
  if (frac.size() > 9) return std::nullopt;
  auto w = whole.empty() ? std::optional<int64_t>(0) : parse_number<int64_t>(whole);
  frac.resize(9, '0');
  auto f = parse_number<int64_t>(frac);
  if (!w || !f || *w < 0 || *w > 9000000000) return std::nullopt;
  return *w * 1000000000 + *f;
}

// "-e K" takes K from the CLI's own environment when set there.
std::string env_entry(const std::string& e) {
  if (e.find('=') != std::string::npos) return e;
  if (const char* v = std::getenv(e.c_str())) return e + "=" + v;
  return e;
}

Result<std::vector<std::string>> read_env_file(const std::string& path) {
  std::ifstream f(path);
  if (!f)
    return std::unexpected(
        Error{Errc::io, errno, str_cat("open ", path, ": ", go_strerror(errno))});
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    std::string t(trim(line));
    if (t.empty() || t[0] == '#') continue;
    out.push_back(env_entry(t));
  }
  return out;
}

Result<std::string> security_opt(const std::string& opt) {
  auto kv = split_once(opt, '=');
  if (!kv || kv->first != "seccomp" || kv->second == "unconfined" || kv->second == "builtin")
    return opt;
  std::ifstream f{std::string(kv->second)};
  if (!f)
    return fail(Errc::invalid_argument,
                str_cat("opening seccomp profile (", kv->second, ") failed: ", go_strerror(errno)));
  std::stringstream ss;
  ss << f.rdbuf();
  return "seccomp=" + compact_json(ss.str());
}

// docker's normalized capability names: "sys_admin" -> "CAP_SYS_ADMIN"; ALL as is.
std::vector<std::string> capabilities(const std::vector<std::string>& caps) {
  std::vector<std::string> out;
  for (const auto& c : caps) {
    std::string u(trim(c));
    for (auto& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (u.empty()) continue;
    if (u != "ALL" && !u.starts_with("CAP_")) u = "CAP_" + u;
    if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
  }
  return out;
}

// The terminal's size as [height, width], or nothing when fd is no terminal.
std::optional<std::pair<int, int>> tty_size(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) != 0) return std::nullopt;
  return std::pair<int, int>{ws.ws_row, ws.ws_col};
}

// Validates the options and writes the create body. An error otherwise, with
// *usage set when it is a bad flag value.
Result<std::string> create_body(Cli& cli, ContainerOptions& o, const SplitFlags& f, bool* usage) {
  std::optional<int64_t> memory, cpus, pids, shm, stop_timeout;
  // A bad flag value is a usage error.
  auto bad = [usage](const std::string& v, const char* flag, const std::string& why) {
    *usage = true;
    return fail(Errc::invalid_argument,
                str_cat("invalid argument \"", v, "\" for \"", flag, "\" flag: ", why));
  };
  if (!o.memory.empty()) {
    memory = ram_in_bytes(o.memory);
    if (!memory) return bad(o.memory, "-m, --memory", "invalid size: '" + o.memory + "'");
  }
  if (!o.cpus.empty()) {
    cpus = nano_cpus(o.cpus);
    if (!cpus)
      return bad(o.cpus, "--cpus", str_cat("failed to parse ", o.cpus, " as a rational number"));
  }
  if (!o.pids_limit.empty()) {
    pids = parse_number<int64_t>(o.pids_limit);
    if (!pids)
      return bad(o.pids_limit, "--pids-limit",
                 str_cat("strconv.ParseInt: parsing \"", o.pids_limit, "\": invalid syntax"));
  }
  if (!o.shm_size.empty()) {
    shm = ram_in_bytes(o.shm_size);
    if (!shm) return bad(o.shm_size, "--shm-size", "invalid size: '" + o.shm_size + "'");
  }
  if (f.changed("stop-timeout")) {
    stop_timeout = parse_number<int64_t>(o.stop_timeout);
    if (!stop_timeout)
      return bad(o.stop_timeout, "--stop-timeout",
                 str_cat("strconv.ParseInt: parsing \"", o.stop_timeout, "\": invalid syntax"));
  }
  if (o.pull != "always" && o.pull != "missing" && o.pull != "never" && !o.pull.empty())
    return fail(Errc::invalid_argument,
                str_cat("invalid pull option: '", o.pull,
                        "': must be one of \"always\", \"missing\" or \"never\""));
  std::vector<std::string> env;
  for (const auto& file : o.env_file) {
    auto lines = read_env_file(file);
    if (!lines) return std::unexpected(lines.error());
    env.insert(env.end(), lines->begin(), lines->end());
  }
  for (const auto& e : o.env) env.push_back(env_entry(e));
  std::vector<std::string> sec;
  for (const auto& s : o.security_opt) {
    auto v = security_opt(s);
    if (!v) return std::unexpected(v.error());
    sec.push_back(std::move(*v));
  }
  std::map<std::string, std::string> labels, tmpfs, log_opts;
  for (const auto& l : o.labels) {
    auto kv = split_once(l, '=');
    labels[std::string(kv ? kv->first : std::string_view(l))] =
        kv ? std::string(kv->second) : std::string();
  }
  for (const auto& t : o.tmpfs) {
    auto kv = split_once(t, ':');
    tmpfs[std::string(kv ? kv->first : std::string_view(t))] =
        kv ? std::string(kv->second) : std::string();
  }
  for (const auto& l : o.log_opt) {
    auto kv = split_once(l, '=');
    if (!kv) return bad(l, "--log-opt", "invalid key value pair format: " + l);
    log_opts[std::string(kv->first)] = std::string(kv->second);
  }
  std::vector<std::string> binds, anon_volumes;
  for (const auto& v : o.volumes)
    (v.find(':') == std::string::npos ? anon_volumes : binds).push_back(v);
  bool attach = !o.detach;
  // Without -d, stdout and stderr are attached; stdin with -i.
  bool attach_stdin = attach && o.interactive;

  std::string out;
  json::Writer w(out);
  w.begin_object();
  w.kv("Hostname", o.hostname).kv("Domainname", "").kv("User", o.user);
  w.kv("AttachStdin", attach_stdin).kv("AttachStdout", attach).kv("AttachStderr", attach);
  w.kv("Tty", o.tty).kv("OpenStdin", o.interactive).kv("StdinOnce", attach_stdin);
  w.key("Env").string_array(env);
  w.key("Cmd");
  if (o.args.empty())
    w.null();
  else
    w.string_array(o.args);
  w.kv("Image", o.image);
  w.key("Volumes").begin_object();
  for (const auto& v : anon_volumes) w.key(v).begin_object().end_object();
  w.end_object();
  w.kv("WorkingDir", o.workdir);
  w.key("Entrypoint");
  if (!o.entrypoint.empty())
    w.string_array({o.entrypoint});
  else if (f.changed("entrypoint"))
    w.string_array({""});
  else
    w.null();
  w.key("Labels").begin_object();
  for (const auto& [k, v] : labels) w.kv(k, v);
  w.end_object();
  if (!o.stop_signal.empty()) w.kv("StopSignal", o.stop_signal);
  if (stop_timeout) w.kv("StopTimeout", static_cast<long long>(*stop_timeout));

  w.key("HostConfig").begin_object();
  w.key("Binds").string_array(binds);
  w.key("LogConfig").begin_object().kv("Type", o.log_driver).key("Config").begin_object();
  for (const auto& [k, v] : log_opts) w.kv(k, v);
  w.end_object().end_object();
  w.kv("NetworkMode", o.network.empty() ? std::string("default") : o.network);
  std::string restart_name = o.restart, retries;
  if (auto colon = o.restart.find(':'); colon != std::string::npos) {
    restart_name = o.restart.substr(0, colon);
    retries = o.restart.substr(colon + 1);
  }
  w.key("RestartPolicy").begin_object().kv("Name", restart_name);
  w.kv("MaximumRetryCount", static_cast<long long>(parse_number<int64_t>(retries).value_or(0)));
  w.end_object();
  w.kv("AutoRemove", o.rm);
  w.key("CapAdd").string_array(capabilities(o.cap_add));
  w.key("CapDrop").string_array(capabilities(o.cap_drop));
  w.key("Dns").string_array(o.dns).key("ExtraHosts").string_array(o.add_host);
  w.kv("IpcMode", o.ipc).kv("PidMode", o.pid).kv("UTSMode", o.uts).kv("UsernsMode", o.userns);
  w.kv("Privileged", o.privileged).kv("ReadonlyRootfs", o.read_only);
  w.key("SecurityOpt").string_array(sec);
  w.key("Tmpfs").begin_object();
  for (const auto& [k, v] : tmpfs) w.kv(k, v);
  w.end_object();
  if (shm) w.kv("ShmSize", static_cast<long long>(*shm));
  if (f.changed("init")) w.kv("Init", o.init);
  if (o.tty && cli.stdout_tty) {
    if (auto size = tty_size(1))
      w.key("ConsoleSize").begin_array().value(size->first).value(size->second).end_array();
  }
  if (memory) w.kv("Memory", static_cast<long long>(*memory));
  if (cpus) w.kv("NanoCpus", static_cast<long long>(*cpus));
  // The defaults docker's CLI sends.
  w.kv("PidsLimit", static_cast<long long>(pids.value_or(0)));
  w.kv("MemorySwappiness", -1).kv("OomKillDisable", false);
  if (!o.ulimits.empty()) {
    w.key("Ulimits").begin_array();
    for (const auto& u : o.ulimits) {
      auto kv = split_once(u, '=');
      if (!kv) return bad(u, "--ulimit", "invalid ulimit argument: " + u);
      auto limits = split_once(kv->second, ':');
      auto soft = parse_number<int64_t>(limits ? limits->first : kv->second);
      auto hard = parse_number<int64_t>(limits ? limits->second : kv->second);
      if (!soft || !hard) return bad(u, "--ulimit", "invalid ulimit argument: " + u);
      w.begin_object().kv("Name", kv->first).kv("Hard", static_cast<long long>(*hard));
      w.kv("Soft", static_cast<long long>(*soft)).end_object();
    }
    w.end_array();
  }
  w.end_object();
  w.key("NetworkingConfig").begin_object().key("EndpointsConfig").begin_object().end_object();
  w.end_object();
  w.end_object();
  return out;
}

// Prints a pull's JSON message stream to stderr as docker's jsonmessage
// does without a terminal; the first error in it is returned.
Result<void> print_pull_messages(std::string_view body, bool quiet) {
  for (auto line : split(body, '\n')) {
    if (trim(line).empty()) continue;
    auto p = json::parse(line);
    if (!p) continue;
    std::string status, id, progress, error;
    auto r =
        json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
          if (json::is_null(v)) return {};
          if (k == "status") status = BERTH_TRY(json::get_string(v, k));
          if (k == "id") id = BERTH_TRY(json::get_string(v, k));
          if (k == "progress") progress = BERTH_TRY(json::get_string(v, k));
          if (k == "error") error = BERTH_TRY(json::get_string(v, k));
          return {};
        });
    if (!r) return r;
    if (!error.empty()) return fail(Errc::internal, error);
    if (quiet || status.empty()) continue;
    if (!id.empty()) std::fprintf(stderr, "%s: ", id.c_str());
    std::fprintf(stderr, "%s%s%s\n", status.c_str(), progress.empty() ? "" : " ", progress.c_str());
  }
  return {};
}

struct Created {
  std::string id;
  std::vector<std::string> warnings;
};

Result<Created> parse_created(const std::string& body) {
  auto p = BERTH_TRY(json::parse(body));
  Created c;
  BERTH_TRY(
      json::for_each_root_field(*p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (json::is_null(v)) return {};
        if (k == "Id") c.id = BERTH_TRY(json::get_string(v, k));
        if (k == "Warnings") c.warnings = BERTH_TRY(json::get_string_array(v, k));
        return {};
      }));
  return c;
}

io::Task<Result<void>> pull_image(Cli& cli, layers::image::Reference ref, bool quiet) {
  Query q;
  q.add("fromImage", ref.repository());
  q.add("tag", ref.has_digest() ? ref.digest : ref.tag);
  std::string target = str_cat(kApi, "/images/create", q.str());
  auto r = co_await cli.client.call("POST", target);
  if (!r) co_return std::unexpected(r.error());
  co_return print_pull_messages(r->body, quiet);
}

// POST /containers/create, pulling a missing image first as docker does
// (--pull). Prints the daemon's warnings; returns the new ID.
io::Task<Result<std::string>> create_container(Cli& cli, const ContainerOptions& o,
                                               std::string body) {
  std::optional<layers::image::Reference> ref;
  if (!layers::image::looks_like_id(o.image)) {
    auto parsed = layers::image::parse_reference(o.image);
    if (!parsed) co_return std::unexpected(parsed.error());
    ref = std::move(*parsed);
  }
  if (o.pull == "always" && ref) {
    auto pulled = co_await pull_image(cli, *ref, o.quiet);
    if (!pulled) co_return std::unexpected(pulled.error());
  }
  Query q;
  if (!o.name.empty()) q.add("name", o.name);
  if (!o.platform.empty()) q.add("platform", o.platform);
  std::string target = str_cat(kApi, "/containers/create", q.str());
  auto r = co_await cli.client.call("POST", target, body);
  if (!r && r.error().code == Errc::not_found && ref && (o.pull == "missing" || o.pull.empty())) {
    if (!o.quiet)
      std::fprintf(stderr, "Unable to find image '%s' locally\n", ref->familiar().c_str());
    auto pulled = co_await pull_image(cli, *ref, o.quiet);
    if (!pulled) co_return std::unexpected(pulled.error());
    r = co_await cli.client.call("POST", target, body);
  }
  if (!r) co_return std::unexpected(r.error());
  auto c = parse_created(r->body);
  if (!c) co_return std::unexpected(c.error());
  for (const auto& w : c->warnings) std::fprintf(stderr, "WARNING: %s\n", w.c_str());
  co_return c->id;
}

// docker's reportError: "berth: <message>" and the hint to the help.
void report_run_error(const std::string& verb, const std::string& message) {
  std::string m = message;
  while (!m.empty() && m.back() == '.') m.pop_back();
  std::fprintf(stderr, "berth: %s\n\nRun 'berth %s --help' for more information\n", m.c_str(),
               verb.c_str());
}

// A create body that could not be made: a usage error for a bad flag value,
// docker's reportError otherwise; both exit 125.
int report_bad_options(const SplitFlags& flags, const char* verb, const Error& e, bool usage) {
  if (usage) return flags.fs().usage_error(e.message);
  report_run_error(verb, e.message);
  return 125;
}

// Parses run/create arguments; nullopt to go on, else the exit code.
std::optional<int> parse_container_args(const Args& args, ContainerOptions& o, bool run,
                                        SplitFlags& flags) {
  add_container_flags(flags, o, run);
  if (auto rc = flags.parse(args)) return rc;
  if (auto rc = flags.fs().min_args(1)) return rc;
  o.image = flags.fs().args()[0];
  o.args.assign(flags.fs().args().begin() + 1, flags.fs().args().end());
  return std::nullopt;
}

}  // namespace

// --- create --------------------------------------------------------------------------

io::Task<int> cmd_create(Cli& cli, Args args) {
  ContainerOptions o;
  SplitFlags flags(cli.path, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container");
  if (auto rc = parse_container_args(args, o, false, flags)) co_return *rc;
  // create attaches nothing, but records what a later `start -a` attaches.
  bool usage = false;
  auto body = create_body(cli, o, flags, &usage);
  if (!body) co_return report_bad_options(flags, "create", body.error(), usage);
  auto id = co_await create_container(cli, o, std::move(*body));
  if (!id) co_return report(id.error());
  std::printf("%s\n", id->c_str());
  co_return 0;
}

// --- run -----------------------------------------------------------------------------

io::Task<int> cmd_run(Cli& cli, Args args) {
  ContainerOptions o;
  SplitFlags flags(cli.path, "[OPTIONS] IMAGE [COMMAND] [ARG...]",
                   "Create and run a new container from an image");
  if (auto rc = parse_container_args(args, o, true, flags)) co_return *rc;
  if (!o.detach && o.tty && o.interactive && !cli.stdin_tty) {
    std::fprintf(stderr, "the input device is not a TTY\n");
    co_return 1;
  }
  bool usage = false;
  auto body = create_body(cli, o, flags, &usage);
  if (!body) co_return report_bad_options(flags, "run", body.error(), usage);
  auto id = co_await create_container(cli, o, std::move(*body));
  if (!id) {
    report_run_error("run", id.error().message);
    co_return start_error_code(id.error().message);
  }
  StartPlan plan;
  plan.id = *id;
  plan.tty = o.tty;
  plan.attach_stdin = !o.detach && o.interactive;
  plan.attach_output = !o.detach;
  plan.auto_remove = o.rm;
  plan.sig_proxy = o.sig_proxy;
  plan.run = true;
  co_return co_await attach_start_wait(cli, std::move(plan));
}

}  // namespace berth::cli
