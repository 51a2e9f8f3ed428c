#include "layers/registry/pull.h"

#include <sys/utsname.h>

#include <chrono>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "io/channel.h"
#include "io/event.h"
#include "io/pool.h"
#include "layers/archive/digest.h"

namespace berth::layers::registry {

namespace img = layers::image;

namespace {

constexpr size_t kManifestLimit = 8 << 20;
constexpr size_t kConfigLimit = 64 << 20;
constexpr int kBlobAttempts = 6;  // tries of one blob download (resumed with Range)

std::string manifest_accept() {
  return str_cat(img::media::docker_manifest, ", ", img::media::docker_list, ", ",
                 img::media::oci_manifest, ", ", img::media::oci_index);
}

Error access_denied(const std::string& display, const Error& why) {
  return Error{Errc::not_found, 0,
               str_cat("pull access denied for ", display,
                       ", repository does not exist or may require 'docker login': ", why.message)};
}

struct Fetched {
  std::string body;
  std::string media_type;
  std::string digest;
};

io::Task<Result<Fetched>> fetch_manifest(Session* s, std::string path, std::string ref,
                                         std::string display) {
  RegistryRequest rq;
  rq.target = str_cat("/v2/", path, "/manifests/", ref);
  rq.headers.emplace_back("Accept", manifest_accept());
  auto r = co_await s->send(std::move(rq));
  if (!r) {
    // As dockerd: refused credentials read as a repository that may not
    // exist (not a 401, which would make the docker CLI prompt for a login).
    Error e = r.error();
    if (e.code == Errc::unauthorized) co_return std::unexpected(access_denied(display, e));
    co_return std::unexpected(e);
  }
  int st = (*r)->status();
  if (st == 404) {
    Error e = co_await s->error_of(std::move(*r), "");
    e.message = str_cat("manifest for ", display, " not found: ", e.message);
    co_return std::unexpected(e);
  }
  if (st != 200) {
    Error e = co_await s->error_of(std::move(*r), "");
    if (e.code == Errc::unauthorized) e = access_denied(display, e);
    co_return std::unexpected(e);
  }
  std::string ct((*r)->header("Content-Type").value_or(""));
  auto body = co_await s->read_all(std::move(*r), kManifestLimit);
  if (!body) co_return std::unexpected(std::move(body.error()).context("read the manifest"));
  Fetched f;
  f.digest = archive::sha256(*body).to_string();
  if (img::valid_digest(ref) && f.digest != ref)
    co_return fail(Errc::corrupt, str_cat("manifest verification failed for digest ", ref,
                                          " (the registry sent ", f.digest, ")"));
  if (auto semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
  ct = std::string(trim(ct));
  if (!img::is_manifest_type(ct) && !img::is_index_type(ct))
    ct = img::json_is_index(*body) ? std::string(img::media::oci_index)
                                   : std::string(img::media::oci_manifest);
  f.media_type = ct;
  f.body = std::move(*body);
  co_return f;
}

io::Task<Result<std::string>> fetch_small_blob(Session* s, std::string path, std::string digest) {
  RegistryRequest rq;
  rq.target = str_cat("/v2/", path, "/blobs/", digest);
  auto r = co_await s->send(std::move(rq));
  if (!r) co_return std::unexpected(r.error());
  if ((*r)->status() != 200) {
    Error e = co_await s->error_of(std::move(*r), "fetch blob " + digest);
    co_return std::unexpected(e);
  }
  auto body = co_await s->read_all(std::move(*r), kConfigLimit);
  if (!body) co_return std::unexpected(body.error());
  if (archive::sha256(*body).to_string() != digest)
    co_return fail(Errc::corrupt, "blob verification failed for digest " + digest);
  co_return body;
}

img::Platform parse_platform(std::string_view s) {
  img::Platform p;
  auto parts = split(s, '/');
  if (!parts.empty()) p.os = std::string(parts[0]);
  if (parts.size() > 1) p.architecture = std::string(parts[1]);
  if (parts.size() > 2) p.variant = std::string(parts[2]);
  return p;
}

Result<img::Descriptor> choose_platform(const img::Index& idx, const std::string& want,
                                        const std::string& display) {
  img::Platform w = parse_platform(want);
  const img::Descriptor* best = nullptr;
  for (const auto& d : idx.manifests) {
    if (!d.platform) continue;
    if (d.platform->os != w.os || d.platform->architecture != w.architecture) continue;
    if (!w.variant.empty() && d.platform->variant != w.variant) continue;
    if (!best) best = &d;
  }
  if (!best)
    return fail(Errc::not_found, str_cat("no matching manifest for ", want,
                                         " in the manifest list entries of ", display));
  return *best;
}

// --- layers ---------------------------------------------------------------------

struct PullState {
  Session* session = nullptr;
  img::ImageService* svc = nullptr;
  ProgressSink* sink = nullptr;
  std::string path;
  std::vector<img::Descriptor> layers;
  std::vector<std::optional<img::ImageService::RegisteredLayer>> done;
  size_t next = 0;
  int running = 0;
  bool failed = false;
  Error error;
  io::Event finished;
};

// Downloads one blob into ch (resuming with Range after a broken
// connection) and closes ch: cleanly at the end, with the error otherwise.
io::Task<Result<void>> download(PullState* st, size_t i, std::shared_ptr<io::InboundChannel> ch) {
  const img::Descriptor& d = st->layers[i];
  std::string id = short_digest(d.digest);
  uint64_t got = 0;
  int64_t total = d.size;
  int failures = 0;
  auto last_report = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto timeout = std::chrono::duration_cast<io::Duration>(st->session->read_timeout());
  Error err;
  for (;;) {
    if (failures >= kBlobAttempts) break;
    if (failures > 0)
      co_await io::sleep(std::chrono::milliseconds(250 << std::min(failures - 1, 3)));
    RegistryRequest rq;
    rq.target = str_cat("/v2/", st->path, "/blobs/", d.digest);
    if (got > 0) rq.headers.emplace_back("Range", str_cat("bytes=", got, "-"));
    auto r = co_await st->session->send(std::move(rq));
    if (!r) {
      err = r.error();
      ++failures;
      if (err.code == Errc::unavailable || err.code == Errc::timeout || err.code == Errc::io)
        continue;
      break;
    }
    int status = (*r)->status();
    uint64_t skip = 0;
    if (status == 206) {
      std::string cr((*r)->header("Content-Range").value_or(""));
      if (!cr.starts_with(str_cat("bytes ", got, "-"))) {  // not where we asked: refuse
        err = Error{Errc::unavailable, 0,
                    "the registry resumed blob " + d.digest + " at the wrong offset"};
        break;
      }
    } else if (status == 200) {
      skip = got;  // no ranges: read again from the start, drop what we have
    } else {
      err = co_await st->session->error_of(std::move(*r), "fetch blob " + d.digest);
      break;
    }
    bool broken = false;
    for (;;) {
      auto chunk = co_await (*r)->conn->read_body(timeout);
      if (!chunk) {
        err = chunk.error();
        broken = true;
        break;
      }
      if (chunk->empty()) break;
      std::string_view data = *chunk;
      if (skip) {
        size_t k = std::min<uint64_t>(skip, data.size());
        data.remove_prefix(k);
        skip -= k;
        if (data.empty()) continue;
      }
      got += data.size();
      if (total > 0 && got > static_cast<uint64_t>(total)) {
        Error e{
            Errc::corrupt, 0,
            str_cat("blob ", d.digest, " is larger than the manifest says (", total, " bytes)")};
        ch->close_write(e);
        co_return std::unexpected(e);
      }
      std::string piece(data);
      auto pushed = co_await ch->push(std::move(piece));
      if (!pushed) co_return std::unexpected(pushed.error());  // the unpacker failed: its error
      auto now = std::chrono::steady_clock::now();
      if (now - last_report >= std::chrono::milliseconds(100)) {
        last_report = now;
        ProgressEvent ev;
        ev.id = id;
        ev.status = "Downloading";
        ev.current = static_cast<int64_t>(got);
        ev.total = total;
        st->sink->emit(ev);
      }
    }
    if (broken) {
      ++failures;
      log::info("pull: blob ", d.digest, " broke off at ", got, " bytes (", err.message,
                "); resuming");
      continue;
    }
    st->session->release(std::move(*r));
    if (total > 0 && got != static_cast<uint64_t>(total)) {
      Error e{Errc::corrupt, 0,
              str_cat("blob ", d.digest, " ended after ", got, " of ", total, " bytes")};
      ch->close_write(e);
      co_return std::unexpected(e);
    }
    ch->close_write();
    ProgressEvent ev;
    ev.id = id;
    ev.status = "Download complete";
    st->sink->emit(ev);
    co_return Result<void>{};
  }
  err.context("fetch blob " + d.digest);
  ch->close_write(err);
  co_return std::unexpected(err);
}

io::Task<Result<img::ImageService::RegisteredLayer>> fetch_layer(PullState* st, size_t i) {
  const img::Descriptor& d = st->layers[i];
  auto ch = std::make_shared<io::InboundChannel>(8 << 20);
  img::ImageService* svc = st->svc;
  std::string digest = d.digest, media = d.media_type;
  auto unpack = [svc, ch, digest, media] {
    extract::Source src = [ch](char* buf, size_t len) { return ch->read(buf, len); };
    auto r = svc->ingest_layer(src, digest, media);
    if (!r) ch->close_read(r.error());
    return r;
  };
  auto job = io::BlockingJob<Result<img::ImageService::RegisteredLayer>>::start(std::move(unpack));
  auto dl = co_await download(st, i, ch);
  auto r = co_await job->wait();
  if (!dl) co_return std::unexpected(dl.error());
  if (!r) co_return std::unexpected(r.error());
  co_return r;
}

io::Task<void> layer_worker(PullState* st) {
  while (!st->failed && st->next < st->layers.size()) {
    size_t i = st->next++;
    if (st->done[i]) continue;
    auto r = co_await fetch_layer(st, i);
    if (!r) {
      if (!st->failed) {
        st->failed = true;
        st->error = r.error();
      }
      break;
    }
    st->done[i] = std::move(*r);
    ProgressEvent ev;
    ev.id = short_digest(st->layers[i].digest);
    ev.status = "Pull complete";
    st->sink->emit(ev);
  }
  if (--st->running == 0) st->finished.notify_all();
}

}  // namespace

std::string host_platform() {
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "linux/amd64";
  if (m == "aarch64") return "linux/arm64";
  if (m.starts_with("armv7")) return "linux/arm/v7";
  if (m == "i686" || m == "i386") return "linux/386";
  return "linux/" + m;
}

io::Task<Result<PullResult>> pull(img::ImageService* svc, Registries* regs, PullOptions o,
                                  ProgressSink* sink) {
  Session s(*regs, regs->host(o.ref.domain), o.creds,
            {str_cat("repository:", o.ref.path, ":pull")});
  std::string want = o.ref.has_digest() ? o.ref.digest : o.ref.tag;
  std::string display = o.ref.familiar();
  std::string platform = o.platform.empty() ? host_platform() : o.platform;
  auto top = co_await fetch_manifest(&s, o.ref.path, want, display);
  if (!top) co_return std::unexpected(top.error());
  PullResult out;
  out.manifest_digest = top->digest;
  Fetched m = std::move(*top);
  if (img::is_index_type(m.media_type)) {
    auto idx = img::parse_index(m.body);
    if (!idx) co_return std::unexpected(std::move(idx.error()).context("manifest list"));
    auto pick = choose_platform(*idx, platform, display);
    if (!pick) co_return std::unexpected(pick.error());
    auto sub = co_await fetch_manifest(&s, o.ref.path, pick->digest, display);
    if (!sub) co_return std::unexpected(sub.error());
    if (img::is_index_type(sub->media_type))
      co_return fail(Errc::invalid_argument,
                     "manifest list inside a manifest list: " + pick->digest);
    m = std::move(*sub);
  }
  auto man = img::parse_manifest(m.body);
  if (!man) co_return std::unexpected(std::move(man.error()).context("image manifest"));
  if (man->schema_version == 1)
    co_return fail(Errc::not_implemented,
                   "Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not "
                   "supported by berth; push the image again with a current client");
  {
    ProgressEvent ev;
    ev.id = o.ref.has_digest() ? o.ref.digest : o.ref.tag;
    ev.status = "Pulling from " + o.ref.path;
    sink->emit(ev);
  }
  auto config = co_await fetch_small_blob(&s, o.ref.path, man->config.digest);
  if (!config) co_return std::unexpected(config.error());
  auto cfg = img::parse_config(*config);
  if (!cfg) co_return std::unexpected(std::move(cfg.error()).context("image config"));
  if (cfg->diff_ids.size() != man->layers.size())
    co_return fail(Errc::corrupt, str_cat("the image config lists ", cfg->diff_ids.size(),
                                          " layers but the manifest has ", man->layers.size()));
  for (const auto& l : man->layers) {
    if (!img::is_layer_type(l.media_type) && !l.media_type.empty())
      co_return fail(Errc::not_implemented, "unsupported layer media type " + l.media_type);
    if (!img::valid_digest(l.digest))
      co_return fail(Errc::invalid_argument, "bad layer digest " + l.digest);
  }

  PullState st;
  st.session = &s;
  st.svc = svc;
  st.sink = sink;
  st.path = o.ref.path;
  st.layers = man->layers;
  // Holds off gc from here until the image is registered; and finds the
  // layers that are here already.
  std::vector<std::string> diff_ids = cfg->diff_ids;
  std::vector<img::Descriptor> descs = man->layers;
  using Found = std::vector<std::optional<img::ImageService::RegisteredLayer>>;
  auto prepare = [svc, diff_ids,
                  descs]() -> Result<std::pair<std::shared_ptr<img::WriteLease>, Found>> {
    auto lease = std::make_shared<img::WriteLease>(svc->hold());
    Found found;
    for (size_t i = 0; i < descs.size(); ++i)
      found.push_back(
          BERTH_TRY(svc->find_layer(descs[i].digest, diff_ids[i], descs[i].media_type)));
    return std::make_pair(lease, std::move(found));
  };
  auto prepared = co_await io::offload(std::move(prepare));
  if (!prepared) co_return std::unexpected(prepared.error());
  std::shared_ptr<img::WriteLease> lease = prepared->first;
  st.done = std::move(prepared->second);
  size_t missing = 0;
  for (size_t i = 0; i < st.layers.size(); ++i) {
    ProgressEvent ev;
    ev.id = short_digest(st.layers[i].digest);
    ev.status = st.done[i] ? "Already exists" : "Pulling fs layer";
    if (!st.done[i]) ++missing;
    sink->emit(ev);
  }
  if (missing) {
    unsigned workers = std::max(1u, std::min<unsigned>(o.parallel, static_cast<unsigned>(missing)));
    uint64_t ticket = st.finished.ticket();
    st.running = static_cast<int>(workers);
    for (unsigned w = 0; w < workers; ++w) io::spawn(layer_worker(&st));
    while (st.running > 0) {
      co_await st.finished.wait(ticket);
      ticket = st.finished.ticket();
    }
    if (st.failed) co_return std::unexpected(st.error);
  }

  std::vector<img::ImageService::RegisteredLayer> layers;
  for (auto& d : st.done) layers.push_back(*d);
  std::vector<std::string> tags;
  if (o.ref.has_tag() && !o.ref.has_digest()) tags.push_back(o.ref.str());
  std::vector<std::string> digests{str_cat(o.ref.repository(), "@", out.manifest_digest)};
  std::string tag_ref = tags.empty() ? std::string() : tags[0];
  std::string cfg_text = std::move(*config);
  auto reg = [svc, cfg_text, layers, tags, digests, tag_ref,
              lease]() -> Result<std::pair<std::string, std::string>> {
    std::string before;
    if (!tag_ref.empty())
      before = svc->images().resolve(tag_ref).value_or("");
    else if (!digests.empty())
      before = svc->images().resolve(digests[0]).value_or("");
    auto id = BERTH_TRY(svc->register_image(cfg_text, layers, tags, digests));
    return std::make_pair(id, before);
  };
  auto registered = co_await io::offload(std::move(reg));
  if (!registered) co_return std::unexpected(registered.error());
  out.image_id = registered->first;
  out.updated = registered->second != registered->first;
  {
    ProgressEvent ev;
    ev.status = "Digest: " + out.manifest_digest;
    sink->emit(ev);
    ProgressEvent ev2;
    std::string shown = o.ref.familiar();
    ev2.status = out.updated ? "Status: Downloaded newer image for " + shown
                             : "Status: Image is up to date for " + shown;
    sink->emit(ev2);
  }
  co_return out;
}

io::Task<Result<ResolvedManifest>> resolve(Registries* regs, img::Reference ref,
                                           Credentials creds) {
  Session s(*regs, regs->host(ref.domain), creds, {str_cat("repository:", ref.path, ":pull")});
  std::string want = ref.has_digest() ? ref.digest : ref.tag;
  auto m = co_await fetch_manifest(&s, ref.path, want, ref.familiar());
  if (!m) co_return std::unexpected(m.error());
  ResolvedManifest out;
  out.media_type = m->media_type;
  out.digest = m->digest;
  out.size = static_cast<int64_t>(m->body.size());
  if (img::is_index_type(m->media_type)) {
    auto idx = img::parse_index(m->body);
    if (!idx) co_return std::unexpected(idx.error());
    for (const auto& d : idx->manifests)
      if (d.platform) out.platforms.push_back(*d.platform);
    co_return out;
  }
  auto man = img::parse_manifest(m->body);
  if (!man) co_return std::unexpected(man.error());
  auto cfg = co_await fetch_small_blob(&s, ref.path, man->config.digest);
  if (!cfg) co_return std::unexpected(cfg.error());
  auto c = img::parse_config(*cfg);
  if (!c) co_return std::unexpected(c.error());
  img::Platform p;
  p.os = c->os;
  p.architecture = c->architecture;
  p.variant = c->variant;
  out.platforms.push_back(p);
  co_return out;
}

io::Task<Result<void>> login(Registries* regs, std::string registry, Credentials creds) {
  Session s(*regs, regs->host(registry), creds, {});
  RegistryRequest rq;
  rq.target = "/v2/";
  auto r = co_await s.send(std::move(rq));
  if (!r) co_return std::unexpected(r.error());
  int st = (*r)->status();
  if (st == 200) {
    s.release(std::move(*r));
    co_return Result<void>{};
  }
  Error e = co_await s.error_of(std::move(*r), "");
  if (st == 401 || st == 403) {
    e.code = Errc::unauthorized;
    e.message = "unauthorized: incorrect username or password";
  }
  co_return std::unexpected(e);
}

}  // namespace berth::layers::registry
