// Image endpoints: load, save, import, list, inspect, history, tag, remove,
// prune, and the image part of /system/df.
#include <memory>
#include <mutex>

#include "api/json/writer.h"
#include "api/server/api.h"
#include "api/server/errors.h"
#include "api/server/filters.h"
#include "api/server/registry.h"
#include "api/server/stream.h"
#include "core/base/strings.h"
#include "core/engine.h"
#include "io/channel.h"
#include "io/pool.h"
#include "layers/image/oci.h"

namespace berth::api {

namespace img = layers::image;

namespace {

bool query_bool(const Request& req, std::string_view name) {
  auto v = req.query(name);
  if (!v) return false;
  return *v == "1" || iequals(*v, "true");
}

std::string familiar(const std::string& full) {
  auto r = img::parse_reference(full, false);
  return r ? r->familiar() : full;
}

// Streams the request body into a channel that a blocking job reads.
io::Task<void> pump_body(Request& req, std::shared_ptr<io::InboundChannel> ch) {
  for (;;) {
    auto chunk = co_await req.read_body();
    if (!chunk) {
      ch->close_write(chunk.error());
      co_return;
    }
    if (chunk->empty()) {
      ch->close_write();
      co_return;
    }
    auto pushed = co_await ch->push(std::string(*chunk));
    if (!pushed) co_return;  // the job stopped reading (it failed)
  }
}

layers::extract::Source channel_source(std::shared_ptr<io::InboundChannel> ch) {
  return [ch](char* buf, size_t len) { return ch->read(buf, len); };
}

void stream_line(std::string& out, std::string_view key, std::string_view text) {
  json::Writer w(out);
  w.begin_object().kv(key, text).end_object();
  out.push_back('\n');
}

// --- load / import / save ---------------------------------------------------------

io::Task<void> load(Request& req, Response& res, core::Engine* e) {
  auto ch = std::make_shared<io::InboundChannel>(16 << 20);
  auto lines = std::make_shared<std::vector<std::string>>();
  auto mu = std::make_shared<std::mutex>();
  auto job = io::BlockingJob<Result<img::LoadResult>>::start([e, ch, lines, mu] {
    auto r = e->images().load(channel_source(ch), [&](std::string_view l) {
      std::lock_guard lock(*mu);
      lines->emplace_back(l);
    });
    if (!r) ch->close_read(r.error());
    return r;
  });
  co_await pump_body(req, ch);
  auto r = co_await job->wait();
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  std::string body;
  for (const auto& l : *lines) stream_line(body, "stream", l);
  res.send(200, "application/json", body);
}

io::Task<void> import_image(Request& req, Response& res, core::Engine* e) {
  std::string from(req.query("fromSrc").value_or(""));
  if (from != "-") {
    send_error(res, 501,
               "importing from a URL (fromSrc=" + from +
                   ") is not implemented in berth yet; send the archive in the body "
                   "(fromSrc=-)");
    co_return;
  }
  img::ImportOptions opts;
  std::string repo(req.query("repo").value_or(""));
  std::string tag(req.query("tag").value_or(""));
  if (!repo.empty()) {
    auto ref = img::parse_reference(tag.empty() ? repo : repo + ":" + tag);
    if (!ref) {
      send_error(res, ref.error());
      co_return;
    }
    opts.tag = ref->str();
  }
  opts.message = std::string(req.query("message").value_or(""));
  for (auto c : req.query_all("changes")) opts.changes.emplace_back(c);
  if (auto p = req.query("platform"); p && !p->empty()) {
    auto parts = split(*p, '/');
    opts.os = std::string(parts[0]);
    if (parts.size() > 1) opts.architecture = std::string(parts[1]);
  }
  // Bad --change lines fail before any byte is read.
  if (auto c = img::apply_changes("", opts.changes); !c) {
    send_error(res, c.error());
    co_return;
  }
  auto ch = std::make_shared<io::InboundChannel>(16 << 20);
  auto job = io::BlockingJob<Result<std::string>>::start([e, ch, opts] {
    auto r = e->images().import(channel_source(ch), opts);
    if (!r) ch->close_read(r.error());
    return r;
  });
  co_await pump_body(req, ch);
  auto r = co_await job->wait();
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  std::string body;
  stream_line(body, "status", *r);
  res.send(200, "application/json", body);
}

io::Task<void> create(Request& req, Response& res, core::Engine* e) {
  if (req.query("fromSrc")) co_return co_await import_image(req, res, e);
  if (req.query("fromImage")) co_return co_await pull_image(req, res, e);
  send_error(res, 400, "either fromImage or fromSrc is required");
}

io::Task<void> save_names(Request& req, Response& res, core::Engine* e,
                          std::vector<std::string> names) {
  auto ch = std::make_shared<io::OutboundChannel>(8 << 20);
  auto job = io::BlockingJob<Result<void>>::start([e, ch, names] {
    ChunkedOutput out(ch);
    auto r = e->images().save(names, [&](std::string_view d) { return out.write(d); });
    if (r) r = out.flush();
    ch->close_write(r ? std::nullopt : std::optional<Error>(r.error()));
    return r;
  });
  co_await send_job_stream(res, ch, job, "application/x-tar");
}

io::Task<void> save_one(Request& req, Response& res, core::Engine* e) {
  std::vector<std::string> names{std::string(req.param("name").value_or(""))};
  co_await save_names(req, res, e, std::move(names));
}

io::Task<void> save_many(Request& req, Response& res, core::Engine* e) {
  std::vector<std::string> names;
  for (auto n : req.query_all("names")) names.emplace_back(n);
  if (names.empty()) {
    send_error(res, 400, "no images given: use ?names=NAME");
    co_return;
  }
  co_await save_names(req, res, e, std::move(names));
}

// --- list / inspect / history ---------------------------------------------------------

struct ListItem {
  img::ImageRecord rec;
  img::ImageConfig cfg;
};

void write_summary(json::Writer& w, const ListItem& it, int containers) {
  const auto& r = it.rec;
  w.begin_object();
  w.kv("Id", r.id).kv("ParentId", r.parent);
  w.key("RepoTags").begin_array();
  for (const auto& t : r.repo_tags) w.value(familiar(t));
  w.end_array();
  w.key("RepoDigests").begin_array();
  for (const auto& d : r.repo_digests) w.value(familiar(d));
  w.end_array();
  w.kv("Created", static_cast<long long>(r.created)).kv("Size", static_cast<long long>(r.size));
  w.kv("SharedSize", -1);
  w.key("Labels").begin_object();
  for (const auto& [k, v] : it.cfg.config.labels) w.kv(k, v);
  w.end_object();
  w.kv("Containers", containers);
  w.end_object();
}

Result<std::vector<ListItem>> list_images(core::Engine* e, const Filters& f) {
  BERTH_TRY(f.only({"dangling", "label", "reference", "before", "since", "until"}));
  auto dangling = BERTH_TRY(f.get_bool("dangling"));
  auto all = BERTH_TRY(e->images().images().list());
  int64_t before = INT64_MAX, since = INT64_MIN;
  for (const auto& b : f.get("before")) {
    auto id = BERTH_TRY(e->images().images().resolve(b));
    before = std::min(before, BERTH_TRY(e->images().images().get(id)).created);
  }
  for (const auto& s : f.get("since")) {
    auto id = BERTH_TRY(e->images().images().resolve(s));
    since = std::max(since, BERTH_TRY(e->images().images().get(id)).created);
  }
  std::vector<ListItem> out;
  for (auto& r : all) {
    auto cfg = img::parse_config(r.config);
    ListItem it{std::move(r), cfg ? std::move(*cfg) : img::ImageConfig{}};
    if (dangling && (*dangling != it.rec.repo_tags.empty())) continue;
    if (!f.match_labels("label", it.cfg.config.labels)) continue;
    if (it.rec.created >= before || it.rec.created <= since) continue;
    if (f.has("reference")) {
      // As docker: the image is listed with the tags that match only.
      std::vector<std::string> matching;
      for (const auto& t : it.rec.repo_tags) {
        std::string fam = familiar(t);
        std::string repo = fam.substr(0, fam.rfind(':'));
        for (const auto& pat : f.get("reference"))
          if (glob_match(pat, fam) || glob_match(pat, repo)) {
            matching.push_back(t);
            break;
          }
      }
      if (matching.empty()) continue;
      it.rec.repo_tags = std::move(matching);
    }
    out.push_back(std::move(it));
  }
  return out;
}

io::Task<void> list(Request& req, Response& res, core::Engine* e) {
  auto f = Filters::parse(req.query("filters").value_or(""));
  if (!f) {
    send_error(res, f.error());
    co_return;
  }
  bool all = query_bool(req, "all");
  auto call = [e, f = *f] { return list_images(e, f); };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  std::string body;
  json::Writer w(body);
  w.begin_array();
  for (const auto& it : *r) {
    // Without all=1, intermediate images of builds (untagged parents) hide.
    if (!all && it.rec.repo_tags.empty() && !it.rec.parent.empty()) continue;
    write_summary(w, it, -1);
  }
  w.end_array();
  send_json(res, 200, std::move(body));
}

std::string inspect_json(core::Engine* e, const img::ImageRecord& r, const img::ImageConfig& c) {
  std::string body;
  json::Writer w(body);
  w.begin_object();
  w.kv("Id", r.id);
  w.key("RepoTags").begin_array();
  for (const auto& t : r.repo_tags) w.value(familiar(t));
  w.end_array();
  w.key("RepoDigests").begin_array();
  for (const auto& d : r.repo_digests) w.value(familiar(d));
  w.end_array();
  w.kv("Parent", r.parent).kv("Comment", c.comment);
  w.kv("Created", c.created.empty() ? img::format_rfc3339(r.created) : c.created);
  w.kv("DockerVersion", c.docker_version).kv("Author", c.author);
  w.key("Config");
  if (c.config_raw.empty())
    w.null();
  else
    w.raw(c.config_raw);
  w.kv("Architecture", c.architecture);
  if (!c.variant.empty()) w.kv("Variant", c.variant);
  w.kv("Os", c.os);
  if (!c.os_version.empty()) w.kv("OsVersion", c.os_version);
  w.kv("Size", static_cast<long long>(r.size));
  w.key("GraphDriver").begin_object().kv("Name", "overlay2").key("Data").begin_object();
  std::vector<std::string> dirs;
  for (auto it = r.diff_ids.rbegin(); it != r.diff_ids.rend(); ++it)
    dirs.push_back(e->images().layer_dir(*it));
  if (!dirs.empty()) {
    w.kv("MergedDir", "").kv("UpperDir", dirs.front());
    if (dirs.size() > 1) {
      std::vector<std::string> lower(dirs.begin() + 1, dirs.end());
      w.kv("LowerDir", join(lower, ":"));
    }
  }
  w.end_object().end_object();
  w.key("RootFS").begin_object().kv("Type", "layers").key("Layers").string_array(r.diff_ids);
  w.end_object();
  w.key("Metadata").begin_object().kv("LastTagTime", "0001-01-01T00:00:00Z").end_object();
  w.end_object();
  return body;
}

io::Task<void> inspect(Request& req, Response& res, core::Engine* e) {
  std::string name(req.param("name").value_or(""));
  auto call = [e, name]() -> Result<std::string> {
    auto id = BERTH_TRY(e->images().images().resolve(name));
    auto rec = BERTH_TRY(e->images().images().get(id));
    auto cfg = BERTH_TRY(img::parse_config(rec.config));
    return inspect_json(e, rec, cfg);
  };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  send_json(res, 200, std::move(*r));
}

io::Task<void> history(Request& req, Response& res, core::Engine* e) {
  std::string name(req.param("name").value_or(""));
  auto call = [e, name]() -> Result<std::string> {
    auto id = BERTH_TRY(e->images().images().resolve(name));
    auto rec = BERTH_TRY(e->images().images().get(id));
    auto cfg = BERTH_TRY(img::parse_config(rec.config));
    std::vector<int64_t> sizes;
    for (const auto& d : rec.diff_ids) {
      auto l = BERTH_TRY(e->images().images().layer(d));
      sizes.push_back(l ? l->size : 0);
    }
    // One entry per history item, newest first; the non-empty ones own the
    // layers in order.
    struct Row {
      const img::HistoryEntry* h;
      int64_t size;
    };
    std::vector<Row> rows;
    size_t layer = 0;
    for (const auto& h : cfg.history) {
      int64_t sz = 0;
      if (!h.empty_layer && layer < sizes.size()) sz = sizes[layer++];
      rows.push_back({&h, sz});
    }
    std::string body;
    json::Writer w(body);
    w.begin_array();
    for (size_t i = rows.size(); i-- > 0;) {
      const auto& row = rows[i];
      w.begin_object();
      w.kv("Id", i + 1 == rows.size() ? rec.id : std::string("<missing>"));
      w.kv("Created", static_cast<long long>(img::parse_rfc3339(row.h->created)));
      w.kv("CreatedBy", row.h->created_by);
      w.key("Tags");
      if (i + 1 == rows.size() && !rec.repo_tags.empty()) {
        w.begin_array();
        for (const auto& t : rec.repo_tags) w.value(familiar(t));
        w.end_array();
      } else {
        w.null();
      }
      w.kv("Size", static_cast<long long>(row.size)).kv("Comment", row.h->comment);
      w.end_object();
    }
    w.end_array();
    return body;
  };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  send_json(res, 200, std::move(*r));
}

// --- tag / remove / prune ---------------------------------------------------------

io::Task<void> tag(Request& req, Response& res, core::Engine* e) {
  std::string name(req.param("name").value_or(""));
  std::string repo(req.query("repo").value_or(""));
  std::string t(req.query("tag").value_or(""));
  if (repo.empty()) {
    send_error(res, 400, "repository name (repo) is required");
    co_return;
  }
  std::string target = t.empty() ? repo : repo + ":" + t;
  auto call = [e, name, target] { return e->images().tag(name, target); };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  res.send_empty(201);
}

void write_removed(json::Writer& w, const std::vector<img::RemovedItem>& items) {
  w.begin_array();
  for (const auto& i : items) {
    w.begin_object();
    if (!i.untagged.empty()) w.kv("Untagged", i.untagged);
    if (!i.deleted.empty()) w.kv("Deleted", i.deleted);
    w.end_object();
  }
  w.end_array();
}

io::Task<void> remove(Request& req, Response& res, core::Engine* e) {
  std::string name(req.param("name").value_or(""));
  bool force = query_bool(req, "force");
  auto call = [e, name, force] {
    return e->images().remove(name, force,
                              [e](const std::string& id) { return e->image_in_use(id); });
  };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  std::string body;
  json::Writer w(body);
  write_removed(w, *r);
  send_json(res, 200, std::move(body));
}

io::Task<void> prune(Request& req, Response& res, core::Engine* e) {
  auto f = Filters::parse(req.query("filters").value_or(""));
  if (!f) {
    send_error(res, f.error());
    co_return;
  }
  if (auto ok = f->only({"dangling", "label", "until"}); !ok) {
    send_error(res, ok.error());
    co_return;
  }
  auto dangling = f->get_bool("dangling");
  if (!dangling) {
    send_error(res, dangling.error());
    co_return;
  }
  bool all_unused = dangling->has_value() && !**dangling;
  int64_t until = INT64_MAX;
  for (const auto& u : f->get("until")) {
    auto secs = parse_number<int64_t>(u);
    int64_t t = secs ? *secs : img::parse_rfc3339(u);
    if (t == 0) {
      send_error(res, 400, "invalid filter 'until=" + u + "'");
      co_return;
    }
    until = std::min(until, t);
  }
  Filters filters = *f;
  auto call = [e, filters, all_unused, until]() -> Result<std::string> {
    uint64_t reclaimed = 0;
    auto items = BERTH_TRY(e->images().prune(
        all_unused,
        [&](const img::ImageRecord& rec) {
          if (rec.created >= until) return false;
          auto cfg = img::parse_config(rec.config);
          return filters.match_labels(
              "label", cfg ? cfg->config.labels : std::map<std::string, std::string>{});
        },
        [e](const std::string& id) { return e->image_in_use(id); }, &reclaimed));
    std::string body;
    json::Writer w(body);
    w.begin_object().key("ImagesDeleted");
    if (items.empty())
      w.null();
    else
      write_removed(w, items);
    w.kv("SpaceReclaimed", static_cast<unsigned long long>(reclaimed)).end_object();
    return body;
  };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  send_json(res, 200, std::move(*r));
}

io::Task<void> system_df(Request& req, Response& res, core::Engine* e) {
  auto call = [e]() -> Result<std::string> {
    auto items = BERTH_TRY(list_images(e, Filters{}));
    int64_t layers_size = 0;
    std::set<std::string> seen;
    for (const auto& it : items)
      for (const auto& d : it.rec.diff_ids)
        if (seen.insert(d).second)
          if (auto l = BERTH_TRY(e->images().images().layer(d))) layers_size += l->size;
    std::string body;
    json::Writer w(body);
    w.begin_object().kv("LayersSize", static_cast<long long>(layers_size));
    w.key("Images").begin_array();
    for (const auto& it : items) write_summary(w, it, 0);
    w.end_array();
    w.key("Containers").begin_array().end_array();
    w.key("Volumes").begin_array().end_array();
    w.key("BuildCache").begin_array().end_array();
    w.end_object();
    return body;
  };
  auto r = co_await io::offload(std::move(call));
  if (!r) {
    send_error(res, r.error());
    co_return;
  }
  send_json(res, 200, std::move(*r));
}

}  // namespace

void add_image_routes(Router& r, ApiContext& ctx) {
  core::Engine* e = ctx.engine;
  auto bind = [e](io::Task<void> (*fn)(Request&, Response&, core::Engine*)) {
    return [e, fn](Request& q, Response& s) { return fn(q, s, e); };
  };
  r.add("POST", "/images/load", bind(&load));
  r.add("POST", "/images/create", bind(&create));
  r.add("GET", "/images/get", bind(&save_many));
  r.add("GET", "/images/{name*}/get", bind(&save_one));
  r.add("GET", "/images/json", bind(&list));
  r.add("GET", "/images/{name*}/json", bind(&inspect));
  r.add("GET", "/images/{name*}/history", bind(&history));
  r.add("POST", "/images/{name*}/tag", bind(&tag));
  r.add("DELETE", "/images/{name*}", bind(&remove));
  r.add("POST", "/images/prune", bind(&prune));
  r.add("GET", "/system/df", bind(&system_df));
}

}  // namespace berth::api
