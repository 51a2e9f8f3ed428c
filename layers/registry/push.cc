#include "layers/registry/push.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "io/channel.h"
#include "io/event.h"
#include "io/pool.h"
#include "layers/archive/digest.h"
#include "layers/image/oci.h"

namespace berth::layers::registry {

namespace img = layers::image;

namespace {

constexpr uint64_t kMonolithicLimit = 8 << 20;  // blobs up to this go up in one PUT

struct PushState {
  Session* session = nullptr;
  img::ImageService* svc = nullptr;
  ProgressSink* sink = nullptr;
  std::string path;
  std::vector<img::LayerBlob> blobs;
  // Other repositories of the same registry the image came from or went
  // to: blobs are mounted from there rather than uploaded.
  std::vector<std::string> mount_from;
  size_t next = 0;
  int running = 0;
  bool failed = false;
  Error error;
  io::Event finished;
};

void emit(ProgressSink* sink, std::string id, std::string status, int64_t cur = -1,
          int64_t total = -1) {
  ProgressEvent ev;
  ev.id = std::move(id);
  ev.status = std::move(status);
  ev.current = cur;
  ev.total = total;
  sink->emit(ev);
}

// An upload location (relative or absolute) with the blob's digest query added.
std::string with_digest(const std::string& location, const std::string& digest) {
  char sep = location.find('?') == std::string::npos ? '?' : '&';
  return str_cat(location, sep, "digest=", url_encode(digest));
}

io::Task<Result<bool>> blob_exists(Session* s, std::string path, std::string digest) {
  RegistryRequest rq;
  rq.method = "HEAD";
  rq.target = str_cat("/v2/", path, "/blobs/", digest);
  auto r = co_await s->send(std::move(rq));
  if (!r) co_return std::unexpected(r.error());
  int st = (*r)->status();
  if (st == 200) {
    auto drained = co_await s->read_all(std::move(*r), 1 << 20);
    if (!drained) co_return std::unexpected(drained.error());
    co_return true;
  }
  if (st == 404) {
    auto drained = co_await s->read_all(std::move(*r), 1 << 20);
    if (!drained) co_return std::unexpected(drained.error());
    co_return false;
  }
  Error e = co_await s->error_of(std::move(*r), "check blob " + digest);
  co_return std::unexpected(e);
}

// Cross-repository mount: true when the registry linked the blob from
// repository `from` (201); false when it started an upload instead (202,
// which is cancelled) or refused.
io::Task<Result<bool>> mount(Session* s, std::string path, std::string digest, std::string from) {
  RegistryRequest rq;
  rq.method = "POST";
  rq.target = str_cat("/v2/", path, "/blobs/uploads/?mount=", url_encode(digest),
                      "&from=", url_encode(from));
  auto r = co_await s->send(std::move(rq));
  if (!r) co_return std::unexpected(r.error());
  int st = (*r)->status();
  std::string loc(st == 202 ? (*r)->header("Location").value_or("") : "");
  auto drained = co_await s->read_all(std::move(*r), 1 << 20);
  if (!drained) co_return std::unexpected(drained.error());
  if (st == 201) co_return true;
  if (!loc.empty()) {
    RegistryRequest cancel;
    cancel.method = "DELETE";
    cancel.target = loc;
    auto c = co_await s->send(std::move(cancel));
    if (c) {
      auto d = co_await s->read_all(std::move(*c), 1 << 20);
      (void)d;
    }
  }
  co_return false;
}

// The upload location a registry answered with (relative or absolute).
std::string location_of(const Reply& r) {
  return std::string(r.header("Location").value_or(""));
}

// Uploads a blob: data when small (set), else the file at path streamed.
io::Task<Result<void>> upload(Session* s, std::string path, std::string digest, uint64_t size,
                              std::string data, std::string file, ProgressSink* sink,
                              std::string id) {
  RegistryRequest start;
  start.method = "POST";
  start.target = str_cat("/v2/", path, "/blobs/uploads/");
  auto r = co_await s->send(std::move(start));
  if (!r) co_return std::unexpected(r.error());
  if ((*r)->status() == 201) {  // the registry had it after all
    auto drained = co_await s->read_all(std::move(*r), 1 << 20);
    if (!drained) co_return std::unexpected(drained.error());
    co_return Result<void>{};
  }
  if ((*r)->status() != 202) {
    Error e = co_await s->error_of(std::move(*r), "start the upload of " + digest);
    co_return std::unexpected(e);
  }
  std::string loc = location_of(**r);
  {
    auto drained = co_await s->read_all(std::move(*r), 1 << 20);
    if (!drained) co_return std::unexpected(drained.error());
  }
  if (loc.empty()) co_return fail(Errc::unavailable, "the registry gave no upload location");

  if (file.empty()) {
    RegistryRequest put;
    put.method = "PUT";
    put.target = with_digest(loc, digest);
    put.headers.emplace_back("Content-Type", "application/octet-stream");
    put.body = std::move(data);
    auto pr = co_await s->send(std::move(put));
    if (!pr) co_return std::unexpected(pr.error());
    if ((*pr)->status() != 201) {
      Error e = co_await s->error_of(std::move(*pr), "upload " + digest);
      co_return std::unexpected(e);
    }
    auto drained = co_await s->read_all(std::move(*pr), 1 << 20);
    if (!drained) co_return std::unexpected(drained.error());
    co_return Result<void>{};
  }

  // Large: the whole blob streamed in one PATCH (read from disk on the
  // pool), then a PUT with the digest to finish.
  auto ch = std::make_shared<io::OutboundChannel>(8 << 20);
  auto reader = [ch, file]() -> Result<void> {
    unique_fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      auto e = sys_error(errno, "open " + file);
      ch->close_write(e);
      return std::unexpected(e);
    }
    std::string buf(1 << 20, '\0');
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        auto e = sys_error(errno, "read " + file);
        ch->close_write(e);
        return std::unexpected(e);
      }
      if (n == 0) break;
      auto w = ch->write(std::string_view(buf.data(), static_cast<size_t>(n)));
      if (!w) return w;
    }
    ch->close_write();
    return {};
  };
  auto job = io::BlockingJob<Result<void>>::start(std::move(reader));
  RegistryRequest patch;
  patch.method = "PATCH";
  patch.target = loc;
  patch.headers.emplace_back("Content-Type", "application/octet-stream");
  patch.body_stream = ch;
  patch.body_length = size;
  auto last = std::chrono::steady_clock::now();
  patch.on_sent = [sink, id, size, &last](uint64_t n) {
    auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(100) && n != size) return;
    last = now;
    emit(sink, id, "Pushing", static_cast<int64_t>(n), static_cast<int64_t>(size));
  };
  auto pr = co_await s->send(std::move(patch));
  if (!pr) {
    ch->close_read(pr.error());
    (void)co_await job->wait();
    co_return std::unexpected(pr.error());
  }
  auto read = co_await job->wait();
  if (!read) co_return std::unexpected(read.error());
  if ((*pr)->status() != 202 && (*pr)->status() != 204) {
    Error e = co_await s->error_of(std::move(*pr), "upload " + digest);
    co_return std::unexpected(e);
  }
  std::string loc2 = location_of(**pr);
  if (loc2.empty()) loc2 = loc;
  {
    auto drained = co_await s->read_all(std::move(*pr), 1 << 20);
    if (!drained) co_return std::unexpected(drained.error());
  }
  RegistryRequest fin;
  fin.method = "PUT";
  fin.target = with_digest(loc2, digest);
  auto fr = co_await s->send(std::move(fin));
  if (!fr) co_return std::unexpected(fr.error());
  if ((*fr)->status() != 201) {
    Error e = co_await s->error_of(std::move(*fr), "finish the upload of " + digest);
    co_return std::unexpected(e);
  }
  auto drained = co_await s->read_all(std::move(*fr), 1 << 20);
  if (!drained) co_return std::unexpected(drained.error());
  co_return Result<void>{};
}

io::Task<Result<void>> push_layer(PushState* st, size_t i) {
  const img::LayerBlob& b = st->blobs[i];
  std::string id = short_digest(b.blob);
  auto exists = co_await blob_exists(st->session, st->path, b.blob);
  if (!exists) co_return std::unexpected(exists.error());
  if (*exists) {
    emit(st->sink, id, "Layer already exists");
    co_return Result<void>{};
  }
  for (const auto& from : st->mount_from) {
    auto m = co_await mount(st->session, st->path, b.blob, from);
    if (!m) co_return std::unexpected(m.error());
    if (*m) {
      emit(st->sink, id, "Mounted from " + from);
      co_return Result<void>{};
    }
  }
  auto d = archive::Digest::parse(b.blob);
  if (!d) co_return std::unexpected(d.error());
  std::string file = st->svc->content().blob_path(*d);
  std::string data;
  if (static_cast<uint64_t>(b.size) <= kMonolithicLimit) {
    img::ImageService* svc = st->svc;
    archive::Digest dg = *d;
    auto load = [svc, dg] { return svc->content().read(dg, kMonolithicLimit + 1); };
    auto small = co_await io::offload(std::move(load));
    if (!small) co_return std::unexpected(small.error());
    data = std::move(*small);
    file.clear();
  }
  auto up = co_await upload(st->session, st->path, b.blob, static_cast<uint64_t>(b.size),
                            std::move(data), std::move(file), st->sink, id);
  if (!up) co_return std::unexpected(up.error());
  emit(st->sink, id, "Pushed");
  co_return Result<void>{};
}

io::Task<void> push_worker(PushState* st) {
  while (!st->failed && st->next < st->blobs.size()) {
    size_t i = st->next++;
    auto r = co_await push_layer(st, i);
    if (!r && !st->failed) {
      st->failed = true;
      st->error = r.error();
    }
  }
  if (--st->running == 0) st->finished.notify_all();
}

}  // namespace

io::Task<Result<PushResult>> push(img::ImageService* svc, Registries* regs, PushOptions o,
                                  ProgressSink* sink) {
  std::string ref_s = o.ref.str();
  auto lookup = [svc, ref_s]() -> Result<img::ImageRecord> {
    auto id = BERTH_TRY(svc->images().resolve(ref_s));
    return svc->images().get(id);
  };
  auto image = co_await io::offload(std::move(lookup));
  if (!image) {
    if (image.error().code == Errc::not_found)
      co_return fail(Errc::not_found, "An image does not exist locally with the tag: " +
                                          o.ref.familiar_repository());
    co_return std::unexpected(image.error());
  }
  emit(sink, "", str_cat("The push refers to repository [", o.ref.familiar_repository(), "]"));

  // The compressed blob of every layer; plain ones are compressed now, all
  // at once on the pool.
  std::vector<std::shared_ptr<io::BlockingJob<Result<img::LayerBlob>>>> jobs;
  for (const auto& diff : image->diff_ids) {
    auto compress = [svc, diff] { return svc->push_blob(diff); };
    jobs.push_back(io::BlockingJob<Result<img::LayerBlob>>::start(std::move(compress)));
  }
  PushState st;
  Error first;
  bool bad = false;
  for (auto& j : jobs) {
    auto b = co_await j->wait();
    if (!b) {
      if (!bad) first = b.error();
      bad = true;
      continue;
    }
    st.blobs.push_back(*b);
  }
  if (bad) co_return std::unexpected(first);
  for (const auto& b : st.blobs) emit(sink, short_digest(b.blob), "Preparing");

  std::vector<std::string> scopes{str_cat("repository:", o.ref.path, ":pull,push")};
  for (const auto& names : {image->repo_digests, image->repo_tags}) {
    for (const auto& n : names) {
      auto r = img::parse_reference(n, false);
      if (!r || r->domain != o.ref.domain || r->path == o.ref.path) continue;
      if (std::find(st.mount_from.begin(), st.mount_from.end(), r->path) != st.mount_from.end())
        continue;
      if (st.mount_from.size() >= 3) break;
      st.mount_from.push_back(r->path);
      scopes.push_back(str_cat("repository:", r->path, ":pull"));
    }
  }
  Session s(*regs, regs->host(o.ref.domain), o.creds, scopes);
  st.session = &s;
  st.svc = svc;
  st.sink = sink;
  st.path = o.ref.path;
  // The first request answers the auth challenge before anything streams.
  if (!st.blobs.empty()) {
    auto w = std::max(1u, std::min<unsigned>(o.parallel, static_cast<unsigned>(st.blobs.size())));
    auto first_layer = co_await push_layer(&st, 0);
    if (!first_layer) co_return std::unexpected(first_layer.error());
    st.next = 1;
    if (st.blobs.size() > 1) {
      uint64_t ticket = st.finished.ticket();
      st.running = static_cast<int>(w);
      for (unsigned k = 0; k < w; ++k) io::spawn(push_worker(&st));
      while (st.running > 0) {
        co_await st.finished.wait(ticket);
        ticket = st.finished.ticket();
      }
      if (st.failed) co_return std::unexpected(st.error);
    }
  }

  // The config, then the manifest.
  bool oci = false;
  for (const auto& b : st.blobs)
    if (b.media_type.ends_with("zstd")) oci = true;
  auto cfg_exists = co_await blob_exists(&s, o.ref.path, image->id);
  if (!cfg_exists) co_return std::unexpected(cfg_exists.error());
  if (!*cfg_exists) {
    auto up = co_await upload(&s, o.ref.path, image->id, image->config.size(), image->config, "",
                              sink, "");
    if (!up) co_return std::unexpected(up.error());
  }
  img::Manifest m;
  m.schema_version = 2;
  m.media_type = std::string(oci ? img::media::oci_manifest : img::media::docker_manifest);
  m.config.media_type = std::string(oci ? img::media::oci_config : img::media::docker_config);
  m.config.digest = image->id;
  m.config.size = static_cast<int64_t>(image->config.size());
  for (const auto& b : st.blobs) {
    img::Descriptor d;
    d.media_type = b.media_type;
    if (!oci && b.media_type.ends_with("gzip"))
      d.media_type = std::string(img::media::docker_layer_gzip);
    d.digest = b.blob;
    d.size = b.size;
    m.layers.push_back(d);
  }
  std::string body = img::write_manifest(m);
  PushResult out;
  out.digest = archive::sha256(body).to_string();
  out.size = static_cast<int64_t>(body.size());
  RegistryRequest put;
  put.method = "PUT";
  put.target = str_cat("/v2/", o.ref.path, "/manifests/", o.ref.tag);
  put.headers.emplace_back("Content-Type", m.media_type);
  put.body = body;
  auto pr = co_await s.send(std::move(put));
  if (!pr) co_return std::unexpected(pr.error());
  if ((*pr)->status() != 201 && (*pr)->status() != 200) {
    Error e = co_await s.error_of(std::move(*pr), "put the manifest");
    co_return std::unexpected(e);
  }
  {
    auto drained = co_await s.read_all(std::move(*pr), 1 << 20);
    if (!drained) co_return std::unexpected(drained.error());
  }
  std::string repo_digest = str_cat(o.ref.repository(), "@", out.digest);
  std::string id = image->id;
  auto record = [svc, repo_digest, id] { return svc->images().add_repo_digest(repo_digest, id); };
  auto rec = co_await io::offload(std::move(record));
  if (!rec) log::warn("push: could not record ", repo_digest, ": ", rec.error().message);
  emit(sink, "", str_cat(o.ref.tag, ": digest: ", out.digest, " size: ", out.size));
  ProgressEvent aux;
  aux.aux_tag = o.ref.tag;
  aux.aux_digest = out.digest;
  aux.aux_size = out.size;
  sink->emit(aux);
  co_return out;
}

}  // namespace berth::layers::registry
