// berth ps / container ls, stop, kill, restart, rm, pause, unpause, wait,
// rename, container prune, and the `berth container` group. Output, messages
// and exit codes as the docker CLI's.
#include "tools/cli/containers.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "tools/cli/cli.h"
#include "tools/cli/flags.h"
#include "tools/cli/format.h"
#include "tools/cli/query.h"
#include "tools/cli/rows.h"
#include "tools/cli/template.h"

namespace berth::cli {

namespace {

// --- ps rows -----------------------------------------------------------------------------

const std::map<std::string, std::string> kPsHeaders = {
    {"ID", "CONTAINER ID"},    {"Image", "IMAGE"},
    {"Command", "COMMAND"},    {"CreatedAt", "CREATED AT"},
    {"RunningFor", "CREATED"}, {"Ports", "PORTS"},
    {"State", "STATE"},        {"Status", "STATUS"},
    {"Size", "SIZE"},          {"Names", "NAMES"},
    {"Labels", "LABELS"},      {"Mounts", "MOUNTS"},
    {"Networks", "NETWORKS"},  {"LocalVolumes", "LOCAL VOLUMES"},
};

// Go's strconv.Quote for the COMMAND column.
std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

struct PortSummary {
  std::string ip, type;
  int64_t private_port = 0, public_port = 0;
};

struct MountSummary {
  std::string name, source, driver;
};

struct ContainerSummary {
  std::string id, image, image_id, command, state, status;
  std::vector<std::string> names;
  std::map<std::string, std::string> labels;
  std::vector<PortSummary> ports;
  std::vector<MountSummary> mounts;
  std::vector<std::string> networks;
  int64_t created = 0, size_rw = -1, size_root_fs = -1;
};

Result<std::vector<ContainerSummary>> parse_container_list(const std::string& body) {
  auto p = BERTH_TRY(json::parse(body));
  json::od::array arr;
  if (p->doc.get_array().get(arr) != simdjson::SUCCESS)
    return fail(Errc::corrupt, "invalid answer from the daemon: expected an array of containers");
  std::vector<ContainerSummary> out;
  for (auto el : arr) {
    json::od::value v;
    if (el.get(v) != simdjson::SUCCESS) return fail(Errc::corrupt, "invalid container list");
    ContainerSummary s;
    BERTH_TRY(json::for_each_field(
        v, "container", [&](std::string_view k, json::od::value f) -> Result<void> {
          if (json::is_null(f)) return {};
          if (k == "Id") s.id = BERTH_TRY(json::get_string(f, k));
          if (k == "Names") s.names = BERTH_TRY(json::get_string_array(f, k));
          if (k == "Image") s.image = BERTH_TRY(json::get_string(f, k));
          if (k == "ImageID") s.image_id = BERTH_TRY(json::get_string(f, k));
          if (k == "Command") s.command = BERTH_TRY(json::get_string(f, k));
          if (k == "Created") s.created = BERTH_TRY(json::get_int(f, k));
          if (k == "State") s.state = BERTH_TRY(json::get_string(f, k));
          if (k == "Status") s.status = BERTH_TRY(json::get_string(f, k));
          if (k == "SizeRw") s.size_rw = BERTH_TRY(json::get_int(f, k));
          if (k == "SizeRootFs") s.size_root_fs = BERTH_TRY(json::get_int(f, k));
          if (k == "Labels") s.labels = BERTH_TRY(json::get_string_map(f, k));
          if (k == "Ports" || k == "Mounts") {
            json::od::array items;
            if (f.get_array().get(items) != simdjson::SUCCESS)
              return std::unexpected(json::bad_field(k, "expected an array"));
            for (auto item_el : items) {
              json::od::value item;
              if (item_el.get(item) != simdjson::SUCCESS) break;
              PortSummary port;
              MountSummary mount;
              BERTH_TRY(json::for_each_field(
                  item, k, [&](std::string_view ik, json::od::value iv) -> Result<void> {
                    if (json::is_null(iv)) return {};
                    if (ik == "IP") port.ip = BERTH_TRY(json::get_string(iv, ik));
                    if (ik == "Type") port.type = BERTH_TRY(json::get_string(iv, ik));
                    if (ik == "PrivatePort") port.private_port = BERTH_TRY(json::get_int(iv, ik));
                    if (ik == "PublicPort") port.public_port = BERTH_TRY(json::get_int(iv, ik));
                    if (ik == "Name") mount.name = BERTH_TRY(json::get_string(iv, ik));
                    if (ik == "Source") mount.source = BERTH_TRY(json::get_string(iv, ik));
                    if (ik == "Driver") mount.driver = BERTH_TRY(json::get_string(iv, ik));
                    return {};
                  }));
              if (k == "Ports")
                s.ports.push_back(std::move(port));
              else
                s.mounts.push_back(std::move(mount));
            }
          }
          if (k == "NetworkSettings") {
            BERTH_TRY(json::for_each_field(
                f, k, [&](std::string_view nk, json::od::value nv) -> Result<void> {
                  if (nk != "Networks" || json::is_null(nv)) return {};
                  return json::for_each_field(
                      nv, nk, [&](std::string_view name, json::od::value) -> Result<void> {
                        s.networks.emplace_back(name);
                        return {};
                      });
                }));
          }
          return {};
        }));
    out.push_back(std::move(s));
  }
  return out;
}

std::string ports_text(std::vector<PortSummary> ports) {
  std::sort(ports.begin(), ports.end(), [](const PortSummary& a, const PortSummary& b) {
    return std::tie(a.private_port, a.type, a.ip) < std::tie(b.private_port, b.type, b.ip);
  });
  std::vector<std::string> parts;
  for (const auto& p : ports) {
    if (p.public_port != 0) {
      std::string ip = p.ip.find(':') != std::string::npos ? "[" + p.ip + "]" : p.ip;
      parts.push_back(str_cat(ip, ":", p.public_port, "->", p.private_port, "/", p.type));
    } else {
      parts.push_back(str_cat(p.private_port, "/", p.type));
    }
  }
  return join(parts, ", ");
}

// docker's formatter.ContainerContext fields.
Row container_row(const ContainerSummary& c, bool trunc, double now) {
  Row r;
  r["ID"] = trunc ? short_id(c.id) : c.id;
  std::vector<std::string> names;
  for (const auto& n : c.names) names.push_back(n.starts_with("/") ? n.substr(1) : n);
  if (trunc) {
    for (const auto& n : names) {
      if (n.find('/') == std::string::npos) {
        names = {n};
        break;
      }
    }
  }
  r["Names"] = join(names, ",");
  std::string image = c.image.empty() ? "<no image>" : c.image;
  if (trunc && !c.image.empty() && short_id(c.image_id) == short_id(c.image))
    image = short_id(c.image);
  r["Image"] = image;
  r["Command"] = go_quote(trunc ? ellipsis(c.command, 20) : c.command);
  r["CreatedAt"] = go_time_string(c.created);
  r["RunningFor"] = time_ago(c.created, now);
  r["Ports"] = ports_text(c.ports);
  r["State"] = c.state;
  r["Status"] = c.status;
  std::string size;
  if (c.size_rw >= 0) {
    size = human_size(static_cast<double>(c.size_rw), 3);
    if (c.size_root_fs > 0)
      size += " (virtual " + human_size(static_cast<double>(c.size_root_fs), 3) + ")";
  } else {
    size = "0B";
  }
  r["Size"] = size;
  std::vector<std::string> labels;
  for (const auto& [k, v] : c.labels) labels.push_back(k + "=" + v);
  r["Labels"] = join(labels, ",");
  std::vector<std::string> mounts;
  int local = 0;
  for (const auto& m : c.mounts) {
    std::string name = m.name.empty() ? m.source : m.name;
    mounts.push_back(trunc ? ellipsis(name, 15) : name);
    if (m.driver == "local") ++local;
  }
  r["Mounts"] = join(mounts, ",");
  r["LocalVolumes"] = std::to_string(local);
  std::vector<std::string> networks = c.networks;
  std::sort(networks.begin(), networks.end());
  r["Networks"] = join(networks, ",");
  return r;
}

// Runs a POST per container as docker's stop/kill/pause/... do: the name on
// stdout for each success, each failure's message on stderr, exit 1 if any.
// force_missing: a missing container is no failure (rm -f).
io::Task<int> for_each_container(Cli& cli, std::vector<std::string> names, std::string method,
                                 std::string suffix, bool force_missing) {
  bool failed = false;
  for (const auto& name : names) {
    std::string target = str_cat(kApi, "/containers/", path_escape(name), suffix);
    auto r = co_await cli.client.request(method, target);
    if (r && (r->status == 304 || (r->status >= 200 && r->status < 300))) {
      std::printf("%s\n", name.c_str());
      continue;
    }
    std::fflush(stdout);
    Error e = r ? api::client::error_from_response(*r) : r.error();
    std::fprintf(stderr, "%s\n", e.message.c_str());
    if (!(force_missing && e.code == Errc::not_found)) failed = true;
  }
  co_return failed ? 1 : 0;
}

std::optional<int> filters_or_usage(const FlagSet& fs, const std::vector<std::string>& filters,
                                    const char* flag, std::string* out) {
  auto fj = filters_json(filters);
  if (fj) {
    *out = std::move(*fj);
    return std::nullopt;
  }
  for (const auto& f : filters)
    if (f.find('=') == std::string::npos)
      return fs.usage_error(
          str_cat("invalid argument \"", f, "\" for \"", flag, "\" flag: ", fj.error().message));
  return report(fj.error());
}

}  // namespace

// --- ps ----------------------------------------------------------------------------------

io::Task<int> cmd_ps(Cli& cli, Args args) {
  bool all = false, quiet = false, latest = false, no_trunc = false, size = false;
  std::string last = "-1", format;
  std::vector<std::string> filters;
  FlagSet fs(cli.path, "[OPTIONS]", "List containers");
  fs.add_bool('a', "all", &all, "Show all containers (default shows just running)")
      .add_list('f', "filter", &filters, "filter", "Filter output based on conditions provided")
      .add_string(0, "format", &format, "string",
                  "Format output using a custom template:\n'table':            Print output in "
                  "table format with column headers (default)\n'table TEMPLATE':   Print output "
                  "in table format using the given Go template\n'json':             Print in JSON "
                  "format\n'TEMPLATE':         Print output using the given Go template")
      .add_string('n', "last", &last, "int", "Show n last created containers (includes all states)")
      .add_bool('l', "latest", &latest, "Show the latest created container (includes all states)")
      .add_bool(0, "no-trunc", &no_trunc, "Don't truncate output")
      .add_bool('q', "quiet", &quiet, "Only display container IDs")
      .add_bool('s', "size", &size, "Display total file sizes");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(0)) co_return *rc;
  auto n = parse_number<int>(last);
  if (!n)
    co_return fs.usage_error(str_cat("invalid argument \"", last, "\" for \"-n, --last\" flag: ",
                                     "strconv.ParseInt: parsing \"", last, "\": invalid syntax"));
  std::string fj;
  if (auto rc = filters_or_usage(fs, filters, "-f, --filter", &fj)) co_return *rc;
  int limit = *n;
  if (latest && limit == -1) limit = 1;
  if (format.empty() || format == "table") {
    if (quiet)
      format = "{{.ID}}";
    else
      format = str_cat("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t",
                       "{{.Ports}}\t{{.Names}}", size ? "\t{{.Size}}" : "");
  } else if (format == "json") {
    format = "{{json .}}";
  }
  if (format.find(".Size") != std::string::npos) size = true;
  Query q;
  // The last n created are of any state.
  if (all || limit > 0) q.add("all", "1");
  if (limit > 0) q.add("limit", std::to_string(limit));
  if (size) q.add("size", "1");
  if (!fj.empty()) q.add("filters", fj);
  auto r = co_await cli.client.call("GET", str_cat(kApi, "/containers/json", q.str()));
  if (!r) co_return report(r.error());
  auto list = parse_container_list(r->body);
  if (!list) co_return report(list.error());
  double now = now_seconds();
  std::vector<Row> rows;
  for (const auto& c : *list) rows.push_back(container_row(c, !no_trunc, now));
  co_return print_rows(format, rows, kPsHeaders, "*formatter.ContainerContext");
}

// --- stop / restart / kill / pause / unpause / rm ---------------------------------------

namespace {

io::Task<int> stop_or_restart(Cli& cli, Args args, const char* verb, const char* summary) {
  std::string signal, timeout;
  FlagSet fs(cli.path, "[OPTIONS] CONTAINER [CONTAINER...]", summary);
  fs.add_string('s', "signal", &signal, "string", "Signal to send to the container")
      .add_string('t', "timeout", &timeout, "int", "Seconds to wait before killing the container");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  Query q;
  if (!signal.empty()) q.add("signal", signal);
  if (!timeout.empty()) {
    if (!parse_number<int>(timeout))
      co_return fs.usage_error(
          str_cat("invalid argument \"", timeout,
                  "\" for \"-t, --timeout\" flag: strconv.ParseInt: parsing \"", timeout,
                  "\": invalid syntax"));
    q.add("t", timeout);
  }
  co_return co_await for_each_container(cli, fs.args(), "POST", str_cat("/", verb, q.str()), false);
}

}  // namespace

io::Task<int> cmd_stop(Cli& cli, Args args) {
  co_return co_await stop_or_restart(cli, std::move(args), "stop",
                                     "Stop one or more running containers");
}

io::Task<int> cmd_restart(Cli& cli, Args args) {
  co_return co_await stop_or_restart(cli, std::move(args), "restart",
                                     "Restart one or more containers");
}

io::Task<int> cmd_kill(Cli& cli, Args args) {
  std::string signal;
  FlagSet fs(cli.path, "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers");
  fs.add_string('s', "signal", &signal, "string", "Signal to send to the container");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  Query q;
  if (!signal.empty()) q.add("signal", signal);
  co_return co_await for_each_container(cli, fs.args(), "POST", "/kill" + q.str(), false);
}

io::Task<int> cmd_pause(Cli& cli, Args args) {
  FlagSet fs(cli.path, "CONTAINER [CONTAINER...]",
             "Pause all processes within one or more containers");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  co_return co_await for_each_container(cli, fs.args(), "POST", "/pause", false);
}

io::Task<int> cmd_unpause(Cli& cli, Args args) {
  FlagSet fs(cli.path, "CONTAINER [CONTAINER...]",
             "Unpause all processes within one or more containers");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  co_return co_await for_each_container(cli, fs.args(), "POST", "/unpause", false);
}

io::Task<int> cmd_rm(Cli& cli, Args args) {
  bool force = false, volumes = false, link = false;
  FlagSet fs(cli.path, "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers");
  fs.add_bool('f', "force", &force, "Force the removal of a running container (uses SIGKILL)")
      .add_bool('l', "link", &link, "Remove the specified link")
      .add_bool('v', "volumes", &volumes, "Remove anonymous volumes associated with the container");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  Query q;
  if (volumes) q.add("v", "1");
  if (link) q.add("link", "1");
  if (force) q.add("force", "1");
  co_return co_await for_each_container(cli, fs.args(), "DELETE", q.str(), force);
}

// --- wait / rename / prune -----------------------------------------------------------------

io::Task<int> cmd_wait(Cli& cli, Args args) {
  FlagSet fs(cli.path, "CONTAINER [CONTAINER...]",
             "Block until one or more containers stop, then print their exit codes");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  std::vector<std::string> errors;
  for (const auto& name : fs.args()) {
    std::string target = str_cat(kApi, "/containers/", path_escape(name), "/wait");
    auto r = co_await cli.client.call("POST", target);
    if (!r) {
      errors.push_back(r.error().message);
      continue;
    }
    int64_t code = 0;
    std::string message;
    auto p = json::parse(r->body);
    if (!p) co_return report(p.error());
    auto res =
        json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
          if (json::is_null(v)) return {};
          if (k == "StatusCode") code = BERTH_TRY(json::get_int(v, k));
          if (k == "Error") {
            return json::for_each_field(
                v, k, [&](std::string_view ek, json::od::value ev) -> Result<void> {
                  if (ek == "Message" && !json::is_null(ev))
                    message = BERTH_TRY(json::get_string(ev, ek));
                  return {};
                });
          }
          return {};
        });
    if (!res) co_return report(res.error());
    if (!message.empty()) {
      errors.push_back(message);
      continue;
    }
    std::printf("%lld\n", static_cast<long long>(code));
  }
  std::fflush(stdout);
  if (errors.empty()) co_return 0;
  std::fprintf(stderr, "%s\n", join(errors, "\n").c_str());
  co_return 1;
}

io::Task<int> cmd_rename(Cli& cli, Args args) {
  FlagSet fs(cli.path, "CONTAINER NEW_NAME", "Rename a container");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(2)) co_return *rc;
  std::string old_name(trim(fs.args()[0])), new_name(trim(fs.args()[1]));
  if (old_name.empty() || new_name.empty()) {
    std::fprintf(stderr, "Error: Neither old nor new names may be empty\n");
    co_return 1;
  }
  Query q;
  q.add("name", new_name);
  auto r = co_await cli.client.call(
      "POST", str_cat(kApi, "/containers/", path_escape(old_name), "/rename", q.str()));
  if (!r) {
    std::fprintf(stderr, "%s\nError: failed to rename container named %s\n",
                 r.error().message.c_str(), old_name.c_str());
    co_return 1;
  }
  co_return 0;
}

io::Task<int> cmd_container_prune(Cli& cli, Args args) {
  bool force = false;
  std::vector<std::string> filters;
  FlagSet fs(cli.path, "[OPTIONS]", "Remove all stopped containers");
  fs.add_list(0, "filter", &filters, "filter", "Provide filter values (e.g. \"until=<timestamp>\")")
      .add_bool('f', "force", &force, "Do not prompt for confirmation");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(0)) co_return *rc;
  std::string fj;
  if (auto rc = filters_or_usage(fs, filters, "--filter", &fj)) co_return *rc;
  if (!force) {
    bool yes = co_await confirm_prompt("WARNING! This will remove all stopped containers.");
    if (!yes) co_return 0;
  }
  Query q;
  if (!fj.empty()) q.add("filters", fj);
  auto r = co_await cli.client.call("POST", str_cat(kApi, "/containers/prune", q.str()));
  if (!r) co_return report(r.error());
  auto p = json::parse(r->body);
  if (!p) co_return report(p.error());
  std::vector<std::string> deleted;
  uint64_t reclaimed = 0;
  auto res =
      json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (json::is_null(v)) return {};
        if (k == "SpaceReclaimed") reclaimed = BERTH_TRY(json::get_uint(v, k));
        if (k == "ContainersDeleted") deleted = BERTH_TRY(json::get_string_array(v, k));
        return {};
      });
  if (!res) co_return report(res.error());
  if (!deleted.empty()) std::printf("Deleted Containers:\n%s\n\n", join(deleted, "\n").c_str());
  std::printf("Total reclaimed space: %s\n", human_size(static_cast<double>(reclaimed), 4).c_str());
  co_return 0;
}

// --- the container group -----------------------------------------------------------------

namespace {

struct SubCommand {
  const char* name;
  const char* alias;
  const char* summary;
  CommandFn fn;
};

const SubCommand kContainerCommands[] = {
    {"commit", nullptr, "Create a new image from a container's changes", &cmd_commit},
    {"create", nullptr, "Create a new container", &cmd_create},
    {"export", nullptr, "Export a container's filesystem as a tar archive", &cmd_export},
    {"inspect", nullptr, "Display detailed information on one or more containers",
     &cmd_container_inspect},
    {"kill", nullptr, "Kill one or more running containers", &cmd_kill},
    {"logs", nullptr, "Fetch the logs of a container", &cmd_logs},
    {"ls", "list", "List containers", &cmd_ps},
    {"pause", nullptr, "Pause all processes within one or more containers", &cmd_pause},
    {"prune", nullptr, "Remove all stopped containers", &cmd_container_prune},
    {"rename", nullptr, "Rename a container", &cmd_rename},
    {"restart", nullptr, "Restart one or more containers", &cmd_restart},
    {"rm", "remove", "Remove one or more containers", &cmd_rm},
    {"run", nullptr, "Create and run a new container from an image", &cmd_run},
    {"start", nullptr, "Start one or more stopped containers", &cmd_start},
    {"stop", nullptr, "Stop one or more running containers", &cmd_stop},
    {"top", nullptr, "Display the running processes of a container", &cmd_top},
    {"unpause", nullptr, "Unpause all processes within one or more containers", &cmd_unpause},
    {"wait", nullptr, "Block until one or more containers stop, then print their exit codes",
     &cmd_wait},
};

void container_usage(FILE* out) {
  std::fprintf(out, "Usage:  berth container COMMAND\n\nManage containers\n\nCommands:\n");
  for (const auto& c : kContainerCommands) std::fprintf(out, "  %-11s %s\n", c.name, c.summary);
  std::fprintf(out, "\nRun 'berth container COMMAND --help' for more information on a command.\n");
}

}  // namespace

io::Task<int> cmd_container(Cli& cli, Args args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    container_usage(stdout);
    co_return 0;
  }
  for (const auto& c : kContainerCommands) {
    if (args[0] == c.name || (c.alias && args[0] == c.alias) ||
        (std::string_view(c.name) == "ls" && args[0] == "ps")) {
      cli.path = str_cat("berth container ", args[0]);
      args.erase(args.begin());
      co_return co_await c.fn(cli, std::move(args));
    }
  }
  std::fprintf(stderr,
               "berth: unknown command: berth container %s\n\nUsage:  berth container COMMAND\n\n"
               "Run 'berth container --help' for more information\n",
               args[0].c_str());
  co_return 1;
}

}  // namespace berth::cli
