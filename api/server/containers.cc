// Container endpoints: create, list, inspect, start, stop, restart, kill,
// pause, unpause, wait, attach, resize, remove, logs, top, rename, update,
// prune, and the container counts of /info.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <chrono>
#include <optional>
#include <set>

#include "api/json/reader.h"
#include "api/json/writer.h"
#include "api/server/api.h"
#include "api/server/errors.h"
#include "api/server/filters.h"
#include "api/server/stream.h"
#include "core/base/strings.h"
#include "core/container/log_reader.h"
#include "core/container/snapshot_ops.h"
#include "core/engine.h"
#include "io/channel.h"
#include "io/pool.h"
#include "layers/image/oci.h"
#include "layers/image/reference.h"

namespace berth::api {

namespace ct = core::container;
using namespace std::chrono_literals;

namespace {

bool query_bool(const Request& req, std::string_view name) {
  auto v = req.query(name);
  return v && (*v == "1" || iequals(*v, "true"));
}

std::string time_text(int64_t ns) {
  if (ns == 0) return "0001-01-01T00:00:00Z";
  return layers::image::format_rfc3339(ns / 1000000000, static_cast<uint32_t>(ns % 1000000000));
}

std::string human_duration(int64_t seconds) {
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return str_cat(seconds, " seconds");
  int64_t m = seconds / 60;
  if (m == 1) return "About a minute";
  if (m < 60) return str_cat(m, " minutes");
  int64_t h = (seconds + 1800) / 3600;
  if (h == 1) return "About an hour";
  if (h < 48) return str_cat(h, " hours");
  if (h < 24 * 7 * 2) return str_cat(h / 24, " days");
  if (h < 24 * 30 * 2) return str_cat(h / 24 / 7, " weeks");
  if (h < 24 * 365 * 2) return str_cat(h / 24 / 30, " months");
  return str_cat(h / 24 / 365, " years");
}

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

// docker ps's STATUS column.
std::string status_text(const ct::State& s) {
  switch (s.status) {
    case ct::Status::created: return "Created";
    case ct::Status::running: return "Up " + human_duration(now_s() - s.started_at / 1000000000);
    case ct::Status::paused:
      return "Up " + human_duration(now_s() - s.started_at / 1000000000) + " (Paused)";
    case ct::Status::restarting:
      return str_cat("Restarting (", s.exit_code, ") ",
                     human_duration(now_s() - s.finished_at / 1000000000), " ago");
    case ct::Status::removing: return "Removal In Progress";
    case ct::Status::exited:
      if (s.finished_at == 0) return "Created";
      return str_cat("Exited (", s.exit_code, ") ",
                     human_duration(now_s() - s.finished_at / 1000000000), " ago");
    case ct::Status::dead: return "Dead";
  }
  return "";
}

std::string command_text(const ct::Container& c) {
  std::string out = c.path;
  for (const auto& a : c.args) out += " " + a;
  return out;
}

// The container named by the {id} path parameter; when there is none, the
// error is answered and the result is empty.
std::optional<std::shared_ptr<ct::Container>> find_or_answer(Request& req, Response& res,
                                                             core::Engine* e) {
  auto c = e->containers().find(req.param("id").value_or(""));
  if (!c) {
    send_error(res, c.error());
    return std::nullopt;
  }
  return std::move(*c);
}

// --- create ------------------------------------------------------------------------

io::Task<void> create(Request& req, Response& res, core::Engine* e) {
  auto body = co_await req.read_all(16 << 20);
  if (!body) {
    send_error(res, body.error());
    co_return;
  }
  std::string name(req.query("name").value_or(""));
  std::string text = std::move(*body);
  auto call = [e, name, text]() -> Result<std::pair<std::string, std::vector<std::string>>> {
    auto parsed = BERTH_TRY(ct::parse_create(text));
    std::vector<std::string> warnings;
    auto c = BERTH_TRY(e->containers().create(std::move(parsed), name, &warnings));
    return std::pair{c->id, warnings};
  };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  std::string out;
  json::Writer w(out);
  w.begin_object().kv("Id", r->first).key("Warnings").string_array(r->second).end_object();
  send_json(res, 201, std::move(out));
}

// --- list / inspect ---------------------------------------------------------------

void write_summary(json::Writer& w, const ct::Container& c, const ct::State& s,
                   const std::string& name) {
  w.begin_object();
  w.kv("Id", c.id);
  w.key("Names").begin_array().value(name).end_array();
  w.kv("Image", c.image_ref).kv("ImageID", c.image_id).kv("Command", command_text(c));
  w.kv("Created", static_cast<long long>(c.created / 1000000000));
  w.key("Ports").begin_array().end_array();
  w.key("Labels").begin_object();
  for (const auto& [k, v] : c.config.labels) w.kv(k, v);
  w.end_object();
  w.kv("State", ct::status_name(s.status)).kv("Status", status_text(s));
  w.key("HostConfig").begin_object().kv("NetworkMode", c.host.network_mode).end_object();
  w.key("NetworkSettings").begin_object().key("Networks").begin_object().end_object().end_object();
  w.key("Mounts").begin_array().end_array();
  w.end_object();
}

io::Task<void> list(Request& req, Response& res, core::Engine* e) {
  auto f = Filters::parse(req.query("filters").value_or(""));
  if (!f) {
    send_error(res, f.error());
    co_return;
  }
  if (auto ok =
          f->only({"id", "name", "status", "label", "ancestor", "exited", "before", "since",
                   "network", "volume", "health", "isolation", "is-task", "publish", "expose"});
      !ok) {
    send_error(res, ok.error());
    co_return;
  }
  for (const auto& st : f->get("status")) {
    static const std::set<std::string> valid = {"created", "restarting", "running", "removing",
                                                "paused",  "exited",     "dead"};
    if (!valid.count(st)) {
      send_error(res, 400, "invalid filter 'status=" + st + "'");
      co_return;
    }
  }
  bool all = query_bool(req, "all");
  int limit = parse_number<int>(req.query("limit").value_or("")).value_or(-1);
  std::vector<std::string> ancestor_ids;
  for (const auto& a : f->get("ancestor")) {
    std::string name = a;
    auto call = [e, name] { return e->images().images().resolve(name); };
    auto id = co_await io::offload(std::move(call));
    ancestor_ids.push_back(id ? *id : std::string("-"));
  }
  int64_t before = INT64_MAX, since = INT64_MIN;
  for (const auto& b : f->get("before")) {
    auto c = e->containers().find(b);
    if (!c) {
      send_error(res, c.error());
      co_return;
    }
    before = std::min(before, (*c)->created);
  }
  for (const auto& s : f->get("since")) {
    auto c = e->containers().find(s);
    if (!c) {
      send_error(res, c.error());
      co_return;
    }
    since = std::max(since, (*c)->created);
  }
  if (f->has("since") || f->has("before")) all = true;
  if (f->has("status") || f->has("exited")) all = true;

  std::string out;
  json::Writer w(out);
  w.begin_array();
  int n = 0;
  for (const auto& c : e->containers().list()) {
    ct::State s;
    std::string name;
    {
      std::lock_guard lock(c->mu);
      if (c->removed) continue;
      s = c->state;
      name = c->name;
    }
    if (!all && !s.running()) continue;
    if (c->created >= before || c->created <= since) continue;
    if (f->has("id")) {
      bool any = false;
      for (const auto& id : f->get("id")) any = any || c->id.starts_with(id);
      if (!any) continue;
    }
    if (f->has("name")) {
      bool any = false;
      for (const auto& nm : f->get("name"))
        any = any || contains(name, nm.starts_with("/") ? nm.substr(1) : nm);
      if (!any) continue;
    }
    if (f->has("status")) {
      bool any = false;
      for (const auto& st : f->get("status")) any = any || ct::status_name(s.status) == st;
      if (!any) continue;
    }
    if (f->has("exited")) {
      bool any = false;
      for (const auto& x : f->get("exited"))
        any = any || (s.status == ct::Status::exited && s.finished_at != 0 &&
                      parse_number<int>(x) == s.exit_code);
      if (!any) continue;
    }
    if (!f->match_labels("label", c->config.labels)) continue;
    if (!ancestor_ids.empty() &&
        std::find(ancestor_ids.begin(), ancestor_ids.end(), c->image_id) == ancestor_ids.end())
      continue;
    if (limit > 0 && n >= limit) break;
    write_summary(w, *c, s, name);
    ++n;
  }
  w.end_array();
  send_json(res, 200, std::move(out));
}

std::string inspect_json(core::Engine* e, const ct::Container& c) {
  ct::State s;
  std::string name;
  ct::Config cfg;
  ct::HostConfig host;
  {
    std::lock_guard lock(c.mu);
    s = c.state;
    name = c.name;
    cfg = c.config;
    host = c.host;
  }
  std::string out;
  json::Writer w(out);
  w.begin_object();
  w.kv("Id", c.id).kv("Created", time_text(c.created)).kv("Path", c.path);
  w.key("Args").string_array(c.args);
  w.key("State").begin_object();
  w.kv("Status", ct::status_name(s.status));
  w.kv("Running", s.running() && s.status != ct::Status::restarting);
  w.kv("Paused", s.status == ct::Status::paused);
  w.kv("Restarting", s.status == ct::Status::restarting);
  w.kv("OOMKilled", s.oom_killed).kv("Dead", s.status == ct::Status::dead);
  w.kv("Pid", static_cast<long long>(s.pid)).kv("ExitCode", s.exit_code).kv("Error", s.error);
  w.kv("StartedAt", time_text(s.started_at)).kv("FinishedAt", time_text(s.finished_at));
  w.end_object();
  w.kv("Image", c.image_id).kv("ResolvConfPath", c.resolv_path).kv("HostnamePath", c.hostname_path);
  w.kv("HostsPath", c.hosts_path).kv("LogPath", c.log_dir + "/log").kv("Name", name);
  w.kv("RestartCount", s.restart_count).kv("Driver", "overlay2").kv("Platform", "linux");
  w.kv("MountLabel", "").kv("ProcessLabel", "").kv("AppArmorProfile", "").kv_null("ExecIDs");
  w.key("HostConfig");
  ct::write_host_config(w, host);
  w.key("GraphDriver").begin_object().key("Data").begin_object();
  w.kv("LowerDir", join(c.layer_dirs, ":")).kv("MergedDir", c.dir + "/merged");
  w.kv("UpperDir", c.dir + "/upper").kv("WorkDir", c.dir + "/work");
  w.end_object().kv("Name", "overlay2").end_object();
  w.key("Mounts").begin_array();
  for (const auto& b : host.binds) {
    auto parts = split(b, ':');
    bool ro = parts.size() > 2 && contains(parts[2], "ro");
    w.begin_object().kv("Type", "bind").kv("Source", parts[0]).kv("Destination", parts[1]);
    w.kv("Mode", parts.size() > 2 ? std::string(parts[2]) : std::string()).kv("RW", !ro);
    w.kv("Propagation", "rprivate").end_object();
  }
  for (const auto& m : host.mounts) {
    w.begin_object().kv("Type", m.type).kv("Source", m.source).kv("Destination", m.target);
    w.kv("Mode", "").kv("RW", !m.read_only).kv("Propagation", m.type == "bind" ? "rprivate" : "");
    w.end_object();
  }
  w.end_array();
  w.key("Config");
  ct::write_config(w, cfg);
  w.key("NetworkSettings").begin_object();
  w.kv("Bridge", "").kv("SandboxID", "").kv("SandboxKey", "");
  w.key("Ports").begin_object().end_object();
  w.kv("HairpinMode", false).kv("LinkLocalIPv6Address", "").kv("LinkLocalIPv6PrefixLen", 0);
  w.kv_null("SecondaryIPAddresses").kv_null("SecondaryIPv6Addresses");
  w.kv("EndpointID", "").kv("Gateway", "").kv("GlobalIPv6Address", "").kv("GlobalIPv6PrefixLen", 0);
  w.kv("IPAddress", "").kv("IPPrefixLen", 0).kv("IPv6Gateway", "").kv("MacAddress", "");
  w.key("Networks").begin_object().end_object();
  w.end_object();
  w.end_object();
  (void)e;
  return out;
}

io::Task<void> inspect(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  send_json(res, 200, inspect_json(e, **c));
}

// --- lifecycle ----------------------------------------------------------------------

io::Task<void> start(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  core::container::StartTimes times;
  auto r = co_await e->containers().start(*c, &times);
  if (!r) {
    if (r.error().code == Errc::not_modified)
      res.send_empty(304);
    else
      send_error(res, r.error());
    co_return;
  }
  // berth's own: where the start's time went, for start-latency tools.
  res.add_header("Berth-Start-Phases", times.header_value());
  res.send_empty(204);
}

std::optional<int> timeout_param(const Request& req) {
  auto t = req.query("t");
  if (!t || t->empty()) t = req.query("timeout");
  if (!t || t->empty()) return std::nullopt;
  return parse_number<int>(*t);
}

io::Task<void> stop(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  auto r = co_await e->containers().stop(*c, timeout_param(req));
  if (!r) {
    if (r.error().code == Errc::not_modified)
      res.send_empty(304);
    else
      send_error(res, r.error());
    co_return;
  }
  res.send_empty(204);
}

io::Task<void> restart(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  auto r = co_await e->containers().restart(*c, timeout_param(req));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  res.send_empty(204);
}

int parse_signal(std::string_view s) {
  if (s.empty()) return SIGKILL;
  if (auto n = parse_number<int>(s)) return *n;
  std::string name = to_lower(s);
  if (name.starts_with("sig")) name = name.substr(3);
  static const std::pair<const char*, int> table[] = {
      {"hup", SIGHUP},   {"int", SIGINT},   {"quit", SIGQUIT},   {"kill", SIGKILL},
      {"usr1", SIGUSR1}, {"usr2", SIGUSR2}, {"term", SIGTERM},   {"stop", SIGSTOP},
      {"cont", SIGCONT}, {"alrm", SIGALRM}, {"winch", SIGWINCH}, {"pipe", SIGPIPE},
      {"abrt", SIGABRT}, {"tstp", SIGTSTP}, {"chld", SIGCHLD},   {"pwr", SIGPWR}};
  for (const auto& [n, v] : table)
    if (name == n) return v;
  return -1;
}

io::Task<void> kill(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  std::string sig(req.query("signal").value_or(""));
  int n = parse_signal(sig);
  if (n <= 0 || n > 64) {
    send_error(res, 400, "Invalid signal: " + sig);
    co_return;
  }
  auto r = e->containers().kill(*c, n);
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  res.send_empty(204);
}

io::Task<void> pause(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  auto r = co_await e->containers().pause(*c);
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  res.send_empty(204);
}

io::Task<void> unpause(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  auto r = co_await e->containers().unpause(*c);
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  res.send_empty(204);
}

io::Task<void> wait(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  std::string condition(req.query("condition").value_or(""));
  if (!condition.empty() && condition != "not-running" && condition != "next-exit" &&
      condition != "removed") {
    send_error(res, 400, "invalid condition: \"" + condition + "\"");
    co_return;
  }
  // Headers first, as docker: the client knows the wait is in place.
  auto begun = co_await res.begin_stream(200, "application/json");
  if (!begun) co_return;
  Response* rp = &res;
  std::function<bool()> gone = [rp] { return rp->server_stopping() || rp->peer_gone(); };
  auto r = co_await e->containers().wait(*c, condition, std::move(gone));
  if (!r && r.error().code == Errc::cancelled) {
    res.abort_stream();
    co_return;
  }
  std::string out;
  json::Writer w(out);
  w.begin_object();
  if (r) {
    w.kv("StatusCode", r->status_code);
    w.key("Error");
    if (r->error.empty())
      w.null();
    else
      w.begin_object().kv("Message", r->error).end_object();
  } else {
    w.kv("StatusCode", -1)
        .key("Error")
        .begin_object()
        .kv("Message", r.error().message)
        .end_object();
  }
  w.end_object();
  out.push_back('\n');
  co_await res.write(out);
}

io::Task<void> remove(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  if (query_bool(req, "link")) {
    send_error(res, 501, "links (DELETE ?link=1) are not implemented in berth yet");
    co_return;
  }
  auto r = co_await e->containers().remove(*c, query_bool(req, "force"), query_bool(req, "v"));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  res.send_empty(204);
}

io::Task<void> rename(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  std::string name(req.query("name").value_or(""));
  if (name.empty()) {
    send_error(res, 400, "Neither old nor new names may be empty");
    co_return;
  }
  auto ptr = *c;
  auto call = [e, ptr, name] { return e->containers().rename(ptr, name); };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  res.send_empty(204);
}

io::Task<void> update(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  auto body = co_await req.read_all(1 << 20);
  if (!body) {
    send_error(res, body.error());
    co_return;
  }
  auto hc = ct::parse_host_config(*body);
  if (!hc) {
    send_error(res, hc.error());
    co_return;
  }
  auto ptr = *c;
  auto call = [e, ptr, h = *hc] { return e->containers().update(ptr, h); };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  std::string out;
  json::Writer w(out);
  w.begin_object().key("Warnings").string_array(*r).end_object();
  send_json(res, 200, std::move(out));
}

io::Task<void> resize(Request& req, Response& res, core::Engine* e) {
  auto c = find_or_answer(req, res, e);
  if (!c) co_return;
  auto h = parse_number<int>(req.query("h").value_or(""));
  auto wd = parse_number<int>(req.query("w").value_or(""));
  if (!h || !wd || *h < 0 || *wd < 0) {
    send_error(res, 400, "invalid height or width");
    co_return;
  }
  auto r = e->containers().resize_tty(*c, *h, *wd);
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  res.send(200, "text/plain; charset=utf-8", "");
}

io::Task<void> prune(Request& req, Response& res, core::Engine* e) {
  auto f = Filters::parse(req.query("filters").value_or(""));
  if (!f) {
    send_error(res, f.error());
    co_return;
  }
  if (auto ok = f->only({"label", "label!", "until"}); !ok) {
    send_error(res, ok.error());
    co_return;
  }
  int64_t until = INT64_MAX;
  for (const auto& u : f->get("until")) {
    auto secs = parse_number<int64_t>(u);
    int64_t t = (secs ? *secs : layers::image::parse_rfc3339(u)) * int64_t{1000000000};
    until = std::min(until, t);
  }
  std::vector<std::string> deleted;
  for (const auto& c : e->containers().list()) {
    {
      std::lock_guard lock(c->mu);
      if (c->state.running() || c->removed) continue;
    }
    if (c->created >= until || !f->match_labels("label", c->config.labels)) continue;
    bool excluded = false;
    for (const auto& l : f->get("label!")) {
      auto kv = split_once(l, '=');
      auto it = c->config.labels.find(std::string(kv ? kv->first : std::string_view(l)));
      if (it != c->config.labels.end() && (!kv || it->second == kv->second)) excluded = true;
    }
    if (excluded) continue;
    auto r = co_await e->containers().remove(c, false, false);
    if (r) deleted.push_back(c->id);
  }
  std::string out;
  json::Writer w(out);
  w.begin_object().key("ContainersDeleted");
  if (deleted.empty())
    w.null();
  else
    w.string_array(deleted);
  w.kv("SpaceReclaimed", 0).end_object();
  send_json(res, 200, std::move(out));
}

// --- attach -------------------------------------------------------------------------

void frame(std::string& out, int stream, std::string_view data, bool tty) {
  if (!tty) {
    uint32_t n = static_cast<uint32_t>(data.size());
    char h[8] = {static_cast<char>(stream),
                 0,
                 0,
                 0,
                 static_cast<char>(n >> 24),
                 static_cast<char>(n >> 16),
                 static_cast<char>(n >> 8),
                 static_cast<char>(n)};
    out.append(h, 8);
  }
  out.append(data);
}

io::Task<void> copy_stdin(io::http::Transport* t, std::string leftover,
                          std::shared_ptr<ct::Container> c, core::Engine* e,
                          std::shared_ptr<bool> done) {
  if (!leftover.empty()) {
    auto w = co_await e->containers().write_stdin(c, leftover);
    (void)w;
  }
  std::string buf(32 * 1024, '\0');
  for (;;) {
    int n = co_await t->read(buf.data(), buf.size(), std::nullopt);
    if (n <= 0) break;
    auto w =
        co_await e->containers().write_stdin(c, std::string(buf.data(), static_cast<size_t>(n)));
    if (!w) break;
  }
  bool once;
  {
    std::lock_guard lock(c->mu);
    once = c->config.stdin_once;
  }
  if (once) e->containers().close_stdin(c);
  *done = true;
}

io::Task<void> attach(Request& req, Response& res, core::Engine* e) {
  auto found = find_or_answer(req, res, e);
  if (!found) co_return;
  auto c = *found;
  bool tty;
  {
    std::lock_guard lock(c->mu);
    tty = c->config.tty;
  }
  auto sink = std::make_shared<ct::AttachSink>();
  sink->want_stdout = query_bool(req, "stdout");
  sink->want_stderr = query_bool(req, "stderr");
  bool want_stdin = query_bool(req, "stdin");
  bool logs = query_bool(req, "logs");
  bool stream = query_bool(req, "stream");
  {
    std::lock_guard lock(c->mu);
    if (!c->state.running() && !stream && !logs) {
      // Nothing to stream and nothing to replay.
    }
  }
  // Register before answering: no output after the client's start is lost.
  if (stream) e->containers().attach(c, sink);
  auto h = co_await res.hijack(tty ? "application/vnd.docker.raw-stream"
                                   : "application/vnd.docker.multiplexed-stream");
  if (!h) {
    e->containers().detach(c, sink);
    co_return;
  }
  io::http::Transport* t = h->transport;
  if (logs) {
    // Replay the log before the live stream.
    std::string dir = c->log_dir;
    ct::LogReadOptions lo;
    lo.show_stdout = sink->want_stdout;
    lo.show_stderr = sink->want_stderr;
    auto call = [dir, lo]() -> Result<std::vector<ct::LogMessage>> {
      auto rd = BERTH_TRY(ct::LogReader::open(dir, lo));
      std::vector<ct::LogMessage> out;
      for (;;) {
        auto st = BERTH_TRY(rd->next(out, ct::LogReader::Clock::now()));
        if (st != ct::LogReadStatus::data) break;
      }
      return out;
    };
    auto msgs = co_await io::offload(std::move(call));
    if (msgs) {
      std::string out;
      for (const auto& m : *msgs) frame(out, m.stream == ct::LogStream::err ? 2 : 1, m.bytes, tty);
      if (!out.empty()) co_await t->write_all(out, 60s);
    }
  }
  auto stdin_done = std::make_shared<bool>(true);
  if (want_stdin) {
    *stdin_done = false;
    io::spawn(copy_stdin(t, h->leftover, c, e, stdin_done));
  }
  if (stream) {
    bool live = true;
    while (live) {
      std::string out;
      uint64_t ticket;
      bool closed;
      {
        std::lock_guard lock(sink->mu);
        while (!sink->queue.empty()) {
          auto& [st, data] = sink->queue.front();
          frame(out, st, data, tty);
          sink->bytes -= data.size();
          sink->queue.pop_front();
        }
        closed = sink->closed;
        ticket = sink->ready.ticket();
      }
      if (!out.empty()) {
        sink->drained.notify_all();
        int rc = co_await t->write_all(out, std::nullopt);
        if (rc < 0) break;
        continue;
      }
      if (closed) break;
      // Once a second: a stopping daemon ends the stream.
      bool notified = co_await sink->ready.wait_for(ticket, 1s);
      if (!notified && res.server_stopping()) break;
      (void)live;
    }
  }
  e->containers().detach(c, sink);
  // The stdin copier reads from the transport, which closes when we
  // return: make it stop first.
  // (Its reads end at once; a write to the stdin of a container that
  // exited fails with EPIPE: it always ends.)
  if (!*stdin_done) {
    t->shutdown_write();
    ::shutdown(t->fd(), SHUT_RD);
    while (!*stdin_done) co_await io::sleep(5ms);
  }
}

// --- logs ---------------------------------------------------------------------------

int64_t parse_time_ns(std::string_view s) {
  if (s.empty()) return 0;
  if (auto dot = s.find('.');
      dot != std::string_view::npos && s.find('T') == std::string_view::npos) {
    auto sec = parse_number<int64_t>(s.substr(0, dot)).value_or(0);
    std::string frac(s.substr(dot + 1));
    frac.resize(9, '0');
    return sec * 1000000000ll + parse_number<int64_t>(frac).value_or(0);
  }
  if (auto n = parse_number<int64_t>(s)) return *n * 1000000000ll;
  return layers::image::parse_rfc3339(s) * 1000000000ll;
}

io::Task<void> logs(Request& req, Response& res, core::Engine* e) {
  auto found = find_or_answer(req, res, e);
  if (!found) co_return;
  auto c = *found;
  ct::LogReadOptions o;
  o.show_stdout = query_bool(req, "stdout");
  o.show_stderr = query_bool(req, "stderr");
  if (!o.show_stdout && !o.show_stderr) {
    send_error(res, 400, "Bad parameters: you must choose at least one stream");
    co_return;
  }
  o.follow = query_bool(req, "follow");
  o.since_ns = parse_time_ns(req.query("since").value_or(""));
  o.until_ns = parse_time_ns(req.query("until").value_or(""));
  std::string tail(req.query("tail").value_or("all"));
  o.tail = tail == "all" || tail.empty() ? -1 : parse_number<int64_t>(tail).value_or(-1);
  bool timestamps = query_bool(req, "timestamps");
  bool tty;
  {
    std::lock_guard lock(c->mu);
    tty = c->config.tty;
  }
  auto ch = std::make_shared<io::OutboundChannel>(4 << 20);
  std::string dir = c->log_dir;
  auto job =
      io::BlockingJob<Result<void>>::start([ch, dir, o, c, timestamps, tty, e]() -> Result<void> {
        auto rd = ct::LogReader::open(dir, o);
        if (!rd) {
          ch->close_write(rd.error());
          return std::unexpected(rd.error());
        }
        for (;;) {
          std::vector<ct::LogMessage> msgs;
          auto st = (*rd)->next(msgs, ct::LogReader::Clock::now() + 250ms);
          if (!st) {
            ch->close_write(st.error());
            return std::unexpected(st.error());
          }
          if (!msgs.empty()) {
            std::string out;
            for (const auto& m : msgs) {
              std::string payload;
              if (timestamps)
                payload =
                    layers::image::format_rfc3339(m.time_ns / 1000000000,
                                                  static_cast<uint32_t>(m.time_ns % 1000000000)) +
                    " ";
              payload += m.bytes;
              frame(out, m.stream == ct::LogStream::err ? 2 : 1, payload, tty);
            }
            if (auto w = ch->write(out); !w) return w;  // the client went away
          }
          if (*st == ct::LogReadStatus::end) break;
          // Following ends when the daemon stops (rather than holding the
          // shutdown for its whole grace), or with the container.
          if (e->shutting_down()) {
            (*rd)->finish();
          } else if (*st == ct::LogReadStatus::idle) {
            std::lock_guard lock(c->mu);
            if (!c->state.running() || c->removed) (*rd)->finish();
          }
        }
        ch->close_write();
        return {};
      });
  co_await send_job_stream(
      res, ch, job,
      tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
}

// --- top ----------------------------------------------------------------------------

io::Task<void> top(Request& req, Response& res, core::Engine* e) {
  auto found = find_or_answer(req, res, e);
  if (!found) co_return;
  auto c = *found;
  std::string ps_args(req.query("ps_args").value_or("-ef"));
  auto call = [c, ps_args]() -> Result<std::string> {
    std::vector<pid_t> pids;
    {
      std::lock_guard lock(c->mu);
      if (!c->state.running() || !c->rt.cgroup)
        return fail(Errc::conflict, str_cat("Container ", c->id, " is not running"));
      pids = BERTH_TRY(c->rt.cgroup->pids());
    }
    for (char ch : ps_args)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != ' ' && ch != ',' &&
          ch != '=')
        return fail(Errc::invalid_argument, "invalid ps arguments: " + ps_args);
    // docker runs the host's ps and keeps the container's rows.
    std::string cmd = "ps " + ps_args + " 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) return sys_fail(errno, "run ps");
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    int st = ::pclose(f);
    if (st != 0)
      return fail(Errc::invalid_argument, "Error running ps: " + std::string(trim(text)));
    auto lines = split(text, '\n');
    if (lines.empty()) return fail(Errc::internal, "ps printed nothing");
    std::vector<std::string> titles;
    for (auto t : split(lines[0], ' '))
      if (!t.empty()) titles.emplace_back(t);
    size_t pid_col = titles.size();
    for (size_t i = 0; i < titles.size(); ++i)
      if (titles[i] == "PID") pid_col = i;
    if (pid_col == titles.size())
      return fail(Errc::invalid_argument, "Couldn't find PID field in ps output");
    std::set<pid_t> want(pids.begin(), pids.end());
    std::string out;
    json::Writer w(out);
    w.begin_object().key("Titles").string_array(titles).key("Processes").begin_array();
    for (size_t li = 1; li < lines.size(); ++li) {
      std::vector<std::string> cols;
      std::string_view line = lines[li];
      size_t pos = 0;
      while (cols.size() + 1 < titles.size() && pos < line.size()) {
        while (pos < line.size() && line[pos] == ' ') ++pos;
        size_t end = line.find(' ', pos);
        if (end == std::string_view::npos) end = line.size();
        if (end > pos) cols.emplace_back(line.substr(pos, end - pos));
        pos = end;
      }
      while (pos < line.size() && line[pos] == ' ') ++pos;
      if (pos < line.size()) cols.emplace_back(line.substr(pos));
      if (cols.size() <= pid_col) continue;
      auto pid = parse_number<pid_t>(cols[pid_col]);
      if (!pid || !want.count(*pid)) continue;
      w.string_array(cols);
    }
    w.end_array().end_object();
    return out;
  };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  send_json(res, 200, std::move(*r));
}

// --- commit / export -----------------------------------------------------------------

io::Task<void> commit(Request& req, Response& res, core::Engine* e) {
  std::string cref(req.query("container").value_or(""));
  auto found = e->containers().find(cref);
  if (!found) {
    send_error(res, found.error());
    co_return;
  }
  ct::CommitRequest cr;
  std::string repo(req.query("repo").value_or(""));
  std::string tag(req.query("tag").value_or(""));
  if (!repo.empty()) {
    auto ref = layers::image::parse_reference(tag.empty() ? repo : repo + ":" + tag);
    if (!ref) {
      send_error(res, ref.error());
      co_return;
    }
    cr.tag = ref->str();
  }
  cr.comment = std::string(req.query("comment").value_or(""));
  cr.author = std::string(req.query("author").value_or(""));
  auto pause = req.query("pause");
  cr.pause = !pause || pause->empty() || *pause == "1" || iequals(*pause, "true");
  for (auto ch : req.query_all("changes")) cr.changes.emplace_back(ch);
  auto body = co_await req.read_all(16 << 20);
  if (!body) {
    send_error(res, body.error());
    co_return;
  }
  if (!trim(*body).empty() && trim(*body) != "null" && trim(*body) != "{}") cr.config_json = *body;
  auto c = *found;
  auto call = [c, e, cr] { return ct::commit_container(c, e->images(), cr); };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  std::string out;
  json::Writer w(out);
  w.begin_object().kv("Id", *r).end_object();
  send_json(res, 201, std::move(out));
}

io::Task<void> export_container(Request& req, Response& res, core::Engine* e) {
  auto found = find_or_answer(req, res, e);
  if (!found) co_return;
  auto c = *found;
  auto ch = std::make_shared<io::OutboundChannel>(8 << 20);
  auto job = io::BlockingJob<Result<void>>::start([c, ch]() -> Result<void> {
    ChunkedOutput out(ch);
    auto r = ct::export_rootfs(*c, [&](std::string_view d) { return out.write(d); });
    if (r) r = out.flush();
    ch->close_write(r ? std::nullopt : std::optional<Error>(r.error()));
    return r;
  });
  co_await send_job_stream(res, ch, job, "application/x-tar");
}

}  // namespace

void add_container_routes(Router& r, ApiContext& ctx) {
  core::Engine* e = ctx.engine;
  auto bind = [e](io::Task<void> (*fn)(Request&, Response&, core::Engine*)) {
    return [e, fn](Request& q, Response& s) { return fn(q, s, e); };
  };
  r.add("POST", "/containers/create", bind(&create));
  r.add("GET", "/containers/json", bind(&list));
  r.add("GET", "/containers/{id}/json", bind(&inspect));
  r.add("POST", "/containers/{id}/start", bind(&start));
  r.add("POST", "/containers/{id}/stop", bind(&stop));
  r.add("POST", "/containers/{id}/restart", bind(&restart));
  r.add("POST", "/containers/{id}/kill", bind(&kill));
  r.add("POST", "/containers/{id}/pause", bind(&pause));
  r.add("POST", "/containers/{id}/unpause", bind(&unpause));
  r.add("POST", "/containers/{id}/wait", bind(&wait));
  r.add("POST", "/containers/{id}/attach", bind(&attach));
  r.add("POST", "/containers/{id}/resize", bind(&resize));
  r.add("DELETE", "/containers/{id}", bind(&remove));
  r.add("GET", "/containers/{id}/logs", bind(&logs));
  r.add("GET", "/containers/{id}/top", bind(&top));
  r.add("POST", "/containers/{id}/rename", bind(&rename));
  r.add("POST", "/containers/{id}/update", bind(&update));
  r.add("POST", "/containers/prune", bind(&prune));
  r.add("POST", "/commit", bind(&commit));
  r.add("GET", "/containers/{id}/export", bind(&export_container));
}

}  // namespace berth::api
