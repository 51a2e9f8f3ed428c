#include "core/container/store.h"

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"

namespace berth::core::container {

namespace js = berth::json;

namespace {
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL,
  image_id TEXT NOT NULL,
  image_ref TEXT NOT NULL,
  path TEXT NOT NULL,
  args TEXT NOT NULL,
  layers TEXT NOT NULL,
  config TEXT NOT NULL,
  state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS containers_by_image ON containers(image_id);
)sql";

std::string strings_json(const std::vector<std::string>& v) {
  std::string out;
  js::Writer w(out);
  w.string_array(v);
  return out;
}

Result<std::vector<std::string>> strings_from(std::string_view text) {
  auto p = BERTH_TRY(js::parse(text));
  js::od::value v;
  if (p->doc.get_value().get(v) != simdjson::SUCCESS) return fail(Errc::corrupt, "bad stored list");
  return js::get_string_array(v, "list");
}
}  // namespace

std::string_view status_name(Status s) {
  switch (s) {
    case Status::created: return "created";
    case Status::running: return "running";
    case Status::paused: return "paused";
    case Status::restarting: return "restarting";
    case Status::removing: return "removing";
    case Status::exited: return "exited";
    case Status::dead: return "dead";
  }
  return "unknown";
}

std::string state_to_json(const State& s) {
  std::string out;
  js::Writer w(out);
  w.begin_object();
  w.kv("Status", status_name(s.status)).kv("Pid", static_cast<long long>(s.pid));
  w.kv("ExitCode", s.exit_code).kv("OOMKilled", s.oom_killed).kv("Error", s.error);
  w.kv("StartedAt", static_cast<long long>(s.started_at));
  w.kv("FinishedAt", static_cast<long long>(s.finished_at));
  w.kv("StoppedByUser", s.stopped_by_user).kv("RestartCount", s.restart_count);
  w.end_object();
  return out;
}

Result<State> state_from_json(std::string_view text) {
  auto p = BERTH_TRY(js::parse(text));
  State s;
  BERTH_TRY(js::for_each_root_field(*p, [&](std::string_view k, js::od::value v) -> Result<void> {
    if (k == "Status") {
      std::string st = BERTH_TRY(js::get_string(v, k));
      for (Status x : {Status::created, Status::running, Status::paused, Status::restarting,
                       Status::removing, Status::exited, Status::dead})
        if (status_name(x) == st) s.status = x;
    } else if (k == "Pid") {
      s.pid = static_cast<pid_t>(BERTH_TRY(js::get_int(v, k)));
    } else if (k == "ExitCode") {
      s.exit_code = static_cast<int>(BERTH_TRY(js::get_int(v, k)));
    } else if (k == "OOMKilled") {
      s.oom_killed = BERTH_TRY(js::get_bool(v, k));
    } else if (k == "Error") {
      s.error = BERTH_TRY(js::get_string(v, k));
    } else if (k == "StartedAt") {
      s.started_at = BERTH_TRY(js::get_int(v, k));
    } else if (k == "FinishedAt") {
      s.finished_at = BERTH_TRY(js::get_int(v, k));
    } else if (k == "StoppedByUser") {
      s.stopped_by_user = BERTH_TRY(js::get_bool(v, k));
    } else if (k == "RestartCount") {
      s.restart_count = static_cast<int>(BERTH_TRY(js::get_int(v, k)));
    }
    return {};
  }));
  return s;
}

Result<std::unique_ptr<ContainerStore>> ContainerStore::open(db::Database& db) {
  BERTH_TRY(db.exec(kSchema));
  return std::unique_ptr<ContainerStore>(new ContainerStore(db));
}

Result<void> ContainerStore::insert(const Container& c) {
  auto st = BERTH_TRY(db_.prepare(
      "INSERT INTO containers(id, name, created, image_id, image_ref, path, args, layers, config, state)"
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
  st.bind(1, c.id).bind(2, c.name).bind(3, c.created).bind(4, c.image_id).bind(5, c.image_ref);
  st.bind(6, c.path).bind(7, strings_json(c.args)).bind(8, strings_json(c.layer_dirs));
  st.bind(9, to_stored_json(c.config, c.host)).bind(10, state_to_json(c.state));
  auto r = st.run();
  if (!r && r.error().code == Errc::conflict)
    return fail(Errc::conflict, str_cat("Conflict. The container name \"", c.name,
                                        "\" is already in use. You have to remove (or rename) "
                                        "that container to be able to reuse that name."));
  return r;
}

Result<void> ContainerStore::save_state(const std::string& id, const State& s) {
  auto st = BERTH_TRY(db_.prepare("UPDATE containers SET state = ?1 WHERE id = ?2"));
  st.bind(1, state_to_json(s)).bind(2, id);
  return st.run();
}

Result<void> ContainerStore::save_name(const std::string& id, const std::string& name) {
  auto st = BERTH_TRY(db_.prepare("UPDATE containers SET name = ?1 WHERE id = ?2"));
  st.bind(1, name).bind(2, id);
  return st.run();
}

Result<void> ContainerStore::save_config(const Container& c) {
  auto st = BERTH_TRY(db_.prepare("UPDATE containers SET config = ?1 WHERE id = ?2"));
  st.bind(1, to_stored_json(c.config, c.host)).bind(2, c.id);
  return st.run();
}

Result<void> ContainerStore::remove(const std::string& id) {
  auto st = BERTH_TRY(db_.prepare("DELETE FROM containers WHERE id = ?1"));
  st.bind(1, id);
  return st.run();
}

Result<std::vector<std::shared_ptr<Container>>> ContainerStore::load_all() {
  db::Database::Lock lock(db_);
  std::vector<std::shared_ptr<Container>> out;
  auto st = BERTH_TRY(db_.prepare(
      "SELECT id, name, created, image_id, image_ref, path, args, layers, config, state "
      "FROM containers ORDER BY created"));
  while (BERTH_TRY(st.step())) {
    auto c = std::make_shared<Container>();
    c->id = st.text(0);
    c->name = st.text(1);
    c->created = st.int64(2);
    c->image_id = st.text(3);
    c->image_ref = st.text(4);
    c->path = st.text(5);
    c->args = BERTH_TRY(strings_from(st.text(6)));
    c->layer_dirs = BERTH_TRY(strings_from(st.text(7)));
    auto cfg = BERTH_TRY(from_stored_json(st.text(8)));
    c->config = std::move(cfg.config);
    c->host = std::move(cfg.host);
    c->state = BERTH_TRY(state_from_json(st.text(9)));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace berth::core::container
