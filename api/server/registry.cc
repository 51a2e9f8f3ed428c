// Registry endpoints: POST /images/create?fromImage= (pull), POST
// /images/{name}/push, POST /auth, GET /distribution/{name}/json.
// Credentials come in the X-Registry-Auth header (base64url JSON, as the
// docker CLI sends them). Pull and push answer with docker's JSON progress
// stream; an error before the first progress line is a plain HTTP error, one
// after it an {"errorDetail":...} line, as dockerd does.
#include "api/server/registry.h"

#include "api/json/writer.h"
#include "api/server/api.h"
#include "api/server/errors.h"
#include "core/base/json/reader.h"
#include "core/base/strings.h"
#include "core/engine.h"
#include "io/event.h"
#include "io/pool.h"
#include "layers/registry/pull.h"
#include "layers/registry/push.h"

namespace berth::api {

namespace reg = layers::registry;
namespace img = layers::image;
using io::http::Request;
using io::http::Response;

namespace {

// docker's progress bar: [=====>      ] 1.2MB/3.4MB
std::string progress_bar(int64_t current, int64_t total) {
  std::string out;
  if (total > 0) {
    constexpr int width = 50;
    int64_t filled = std::min<int64_t>(width, current * width / total);
    out.push_back('[');
    for (int64_t i = 0; i < filled; ++i) out.push_back('=');
    if (filled < width) out.push_back('>');
    for (int64_t i = filled + 1; i < width; ++i) out.push_back(' ');
    out.append("] ");
    out.append(human_size(static_cast<double>(current)))
        .append("/")
        .append(human_size(static_cast<double>(total)));
  } else {
    out = human_size(static_cast<double>(current));
  }
  return out;
}

}  // namespace

std::string progress_line(const reg::ProgressEvent& e) {
  std::string out;
  json::Writer w(out);
  w.begin_object();
  if (e.aux_tag) {
    w.key("progressDetail").begin_object().end_object();
    w.key("aux").begin_object();
    w.kv("Tag", *e.aux_tag)
        .kv("Digest", e.aux_digest)
        .kv("Size", static_cast<long long>(e.aux_size));
    w.end_object();
  } else {
    w.kv("status", e.status);
    if (e.current >= 0) {
      w.key("progressDetail").begin_object();
      w.kv("current", static_cast<long long>(e.current));
      if (e.total > 0) w.kv("total", static_cast<long long>(e.total));
      w.end_object();
      w.kv("progress", progress_bar(e.current, e.total));
    }
    if (!e.id.empty()) w.kv("id", e.id);
  }
  w.end_object();
  out.push_back('\n');
  return out;
}

std::string error_line(std::string_view message) {
  std::string out;
  json::Writer w(out);
  w.begin_object();
  w.key("errorDetail").begin_object().kv("message", message).end_object();
  w.kv("error", message);
  w.end_object();
  out.push_back('\n');
  return out;
}

// docker's AuthConfig (username, password, identitytoken, registrytoken,
// serveraddress when `server` is given) into c; `prefix` names the fields
// in errors ("X-Registry-Auth.username: ...").
Result<void> read_auth_config(json::Parsed& doc, std::string_view prefix, reg::Credentials& c,
                              std::string* server) {
  return json::for_each_root_field(doc, [&](std::string_view k, json::od::value v) -> Result<void> {
    if (json::is_null(v)) return {};
    std::string* field = iequals(k, "username")        ? &c.username
                         : iequals(k, "password")      ? &c.password
                         : iequals(k, "identitytoken") ? &c.identity_token
                         : iequals(k, "registrytoken") ? &c.registry_token
                         : iequals(k, "serveraddress") ? server
                                                       : nullptr;
    if (field) *field = BERTH_TRY(json::get_string(v, str_cat(prefix, to_lower(k))));
    return {};
  });
}

Result<reg::Credentials> credentials_from_header(std::optional<std::string_view> header) {
  reg::Credentials c;
  if (!header || trim(*header).empty()) return c;
  auto text = base64_decode(trim(*header));
  if (!text) return fail(Errc::invalid_argument, "X-Registry-Auth: not base64");
  if (trim(*text).empty() || trim(*text) == "{}" || trim(*text) == "null") return c;
  auto doc = json::parse(*text);
  if (!doc) return fail(Errc::invalid_argument, "X-Registry-Auth: " + doc.error().message);
  if (auto r = read_auth_config(**doc, "X-Registry-Auth.", c, nullptr); !r)
    return fail(Errc::invalid_argument, "X-Registry-Auth: " + r.error().message);
  return c;
}

// The registry name in a login's serveraddress: "https://index.docker.io/v1/"
// -> docker.io, "http://127.0.0.1:5000/" -> 127.0.0.1:5000.
std::string registry_of_server_address(std::string_view s) {
  s = trim(s);
  if (s.starts_with("https://"))
    s.remove_prefix(8);
  else if (s.starts_with("http://"))
    s.remove_prefix(7);
  if (auto slash = s.find('/'); slash != std::string_view::npos) s = s.substr(0, slash);
  if (s.empty() || s == "index.docker.io" || s == "registry-1.docker.io" || s == "docker.io")
    return "docker.io";
  return std::string(s);
}

// Writes progress lines to a streamed response in order; emit() never
// waits (a writer coroutine drains what piles up).
class StreamSink : public reg::ProgressSink {
 public:
  explicit StreamSink(Response& res) : res_(res) {}
  void emit(const reg::ProgressEvent& e) override { append(progress_line(e)); }
  void append(std::string line) {
    if (failed_) return;
    pending_.append(line);
    if (!writing_) {
      writing_ = true;
      io::spawn(writer(this));
    }
  }
  // Waits until every line so far went out (or the client went away).
  io::Task<void> drain() {
    while (writing_) {
      uint64_t t = idle_.ticket();
      if (!writing_) break;
      co_await idle_.wait(t);
    }
  }
  bool started() const { return started_; }
  bool failed() const { return failed_; }

 private:
  static io::Task<void> writer(StreamSink* s) {
    if (!s->started_) {
      s->started_ = true;
      auto r = co_await s->res_.begin_stream(200, "application/json");
      if (!r) s->failed_ = true;
    }
    while (!s->pending_.empty() && !s->failed_) {
      std::string batch = std::move(s->pending_);
      s->pending_.clear();
      auto r = co_await s->res_.write(batch);
      if (!r) s->failed_ = true;
    }
    s->pending_.clear();
    s->writing_ = false;
    s->idle_.notify_all();
  }

  Response& res_;
  std::string pending_;
  bool writing_ = false;
  bool started_ = false;
  bool failed_ = false;
  io::Event idle_;
};

namespace {

// Ends a pull/push answer: the error as an HTTP status if nothing was
// streamed yet, else as an errorDetail line.
io::Task<void> finish(Response& res, StreamSink* sink, std::optional<Error> err) {
  co_await sink->drain();
  if (err && !sink->started()) {
    send_error(res, *err);
    co_return;
  }
  if (err) {
    sink->append(error_line(err->message));
    co_await sink->drain();
  }
  if (res.streaming()) {
    auto r = co_await res.end_stream();
    (void)r;
  }
}

}  // namespace

io::Task<void> pull_image(Request& req, Response& res, core::Engine* e) {
  std::string from(req.query("fromImage").value_or(""));
  std::string tag(req.query("tag").value_or(""));
  std::string name = from;
  if (!tag.empty()) name += (img::valid_digest(tag) ? "@" : ":") + tag;
  auto ref = img::parse_reference(name);
  if (!ref) {
    send_error(res, 400, ref.error().message);
    co_return;
  }
  reg::PullOptions o;
  o.ref = *ref;
  if (auto p = req.query("platform"); p && !p->empty()) {
    auto parts = split(*p, '/');
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) {
      send_error(res, 400,
                 "invalid platform \"" + std::string(*p) + "\": expected os/arch[/variant]");
      co_return;
    }
    o.platform = to_lower(*p);
  }
  auto creds = credentials_from_header(req.header("X-Registry-Auth"));
  if (!creds) {
    send_error(res, creds.error());
    co_return;
  }
  o.creds = *creds;
  o.parallel = e->max_downloads();
  StreamSink sink(res);
  auto r = co_await reg::pull(&e->images(), &e->registries(), std::move(o), &sink);
  std::optional<Error> err;
  if (!r) err = r.error();
  co_await finish(res, &sink, err);
}

namespace {

io::Task<void> push_image(Request& req, Response& res, core::Engine* e) {
  std::string name(req.param("name").value_or(""));
  std::string tag(req.query("tag").value_or(""));
  auto repo = img::parse_reference(name, false);
  if (!repo) {
    send_error(res, 400, repo.error().message);
    co_return;
  }
  std::vector<img::Reference> refs;
  if (!tag.empty() || repo->has_tag()) {
    auto ref = img::parse_reference(repo->repository() + ":" + (tag.empty() ? repo->tag : tag));
    if (!ref) {
      send_error(res, 400, ref.error().message);
      co_return;
    }
    refs.push_back(*ref);
  } else {
    // No tag: every local tag of the repository, as docker does.
    std::string prefix = repo->repository() + ":";
    auto list = [e] { return e->images().images().list(); };
    auto images = co_await io::offload(std::move(list));
    if (!images) {
      send_error(res, images.error());
      co_return;
    }
    for (const auto& im : *images)
      for (const auto& t : im.repo_tags)
        if (t.starts_with(prefix))
          if (auto r = img::parse_reference(t)) refs.push_back(*r);
    if (refs.empty()) {
      send_error(res, 404,
                 "An image does not exist locally with the tag: " + repo->familiar_repository());
      co_return;
    }
  }
  auto creds = credentials_from_header(req.header("X-Registry-Auth"));
  if (!creds) {
    send_error(res, creds.error());
    co_return;
  }
  StreamSink sink(res);
  std::optional<Error> err;
  for (const auto& ref : refs) {
    reg::PushOptions o;
    o.ref = ref;
    o.creds = *creds;
    o.parallel = e->max_uploads();
    auto r = co_await reg::push(&e->images(), &e->registries(), std::move(o), &sink);
    if (!r) {
      err = r.error();
      break;
    }
  }
  co_await finish(res, &sink, err);
}

io::Task<void> auth(Request& req, Response& res, core::Engine* e) {
  auto body = co_await req.read_all(1 << 20);
  if (!body) {
    send_error(res, body.error());
    co_return;
  }
  auto doc = json::parse(*body);
  if (!doc) {
    send_error(res, 400, "invalid JSON body: " + doc.error().message);
    co_return;
  }
  reg::Credentials c;
  std::string server;
  auto r = read_auth_config(**doc, "", c, &server);
  if (!r) {
    send_error(res, 400, r.error().message);
    co_return;
  }
  std::string registry = registry_of_server_address(server);
  auto ok = co_await reg::login(&e->registries(), registry, c);
  if (!ok) {
    send_error(res, ok.error());
    co_return;
  }
  std::string out;
  json::Writer w(out);
  w.begin_object().kv("Status", "Login Succeeded").kv("IdentityToken", "").end_object();
  send_json(res, 200, std::move(out));
}

io::Task<void> distribution(Request& req, Response& res, core::Engine* e) {
  auto ref = img::parse_reference(req.param("name").value_or(""));
  if (!ref) {
    send_error(res, 400, ref.error().message);
    co_return;
  }
  auto creds = credentials_from_header(req.header("X-Registry-Auth"));
  if (!creds) {
    send_error(res, creds.error());
    co_return;
  }
  auto m = co_await reg::resolve(&e->registries(), *ref, *creds);
  if (!m) {
    send_error(res, m.error());
    co_return;
  }
  std::string out;
  json::Writer w(out);
  w.begin_object().key("Descriptor").begin_object();
  w.kv("mediaType", m->media_type)
      .kv("digest", m->digest)
      .kv("size", static_cast<long long>(m->size));
  w.end_object().key("Platforms").begin_array();
  for (const auto& p : m->platforms) {
    w.begin_object().kv("architecture", p.architecture).kv("os", p.os);
    if (!p.variant.empty()) w.kv("variant", p.variant);
    w.end_object();
  }
  w.end_array().end_object();
  send_json(res, 200, std::move(out));
}

}  // namespace

void add_registry_routes(Router& r, ApiContext& ctx) {
  core::Engine* e = ctx.engine;
  auto bind = [e](io::Task<void> (*fn)(Request&, Response&, core::Engine*)) {
    return [e, fn](Request& q, Response& s) { return fn(q, s, e); };
  };
  r.add("POST", "/images/{name*}/push", bind(&push_image));
  r.add("POST", "/auth", bind(&auth));
  r.add("GET", "/distribution/{name*}/json", bind(&distribution));
}

}  // namespace berth::api
