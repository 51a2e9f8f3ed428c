// ImageService's part in registry pulls and pushes: layers streamed in from
// the network (stored and unpacked in one pass, verified before they are
// kept), layers found already present, images registered once all their
// layers are in, and compressed blobs for pushing.
#include <fcntl.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "layers/image/service.h"

namespace berth::layers::image {

void GcGate::lock_shared() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !exclusive_ && exclusive_waiting_ == 0; });
  ++shared_;
}

void GcGate::unlock_shared() {
  std::lock_guard lock(mu_);
  if (--shared_ == 0) cv_.notify_all();
}

void GcGate::lock() {
  std::unique_lock lock(mu_);
  ++exclusive_waiting_;
  cv_.wait(lock, [&] { return !exclusive_ && shared_ == 0; });
  --exclusive_waiting_;
  exclusive_ = true;
}

void GcGate::unlock() {
  std::lock_guard lock(mu_);
  exclusive_ = false;
  cv_.notify_all();
}

namespace {

// Layers kept by a pull that failed before it registered its image carry
// their archive size here, so the next pull can register them as they are.
constexpr const char* kTarSizeFile = "/tar-size";

std::string parent_dir(const std::string& p) {
  return p.substr(0, p.rfind('/'));
}

void write_small_file(const std::string& path, const std::string& text) {
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() >= 0 && ::write(fd.get(), text.data(), text.size()) < 0) {
    // Only a hint for the next pull; without it the layer is fetched again.
  }
}

std::optional<int64_t> read_tar_size(const std::string& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  char buf[32];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  return parse_number<int64_t>(trim(std::string_view(buf, static_cast<size_t>(n))));
}

bool is_compressed_type(std::string_view mt) {
  return mt.ends_with("gzip") || mt.ends_with("zstd");
}

}  // namespace

Result<ImageService::RegisteredLayer> ImageService::ingest_layer(const extract::Source& src,
                                                                 const std::string& blob_digest,
                                                                 const std::string& media_type) {
  auto expected = BERTH_TRY(content::Digest::parse(blob_digest));
  auto temp = BERTH_TRY(layers_->begin());
  auto ingest = BERTH_TRY(content_->begin_ingest());
  extract::Source tee = [&](char* buf, size_t len) -> Result<size_t> {
    size_t n = BERTH_TRY(src(buf, len));
    if (n) BERTH_TRY(ingest.write(std::string_view(buf, n)));
    return n;
  };
  auto r = extract::unpack(tee, temp.diff_dir(), opts_.unpack);
  if (!r) return std::unexpected(std::move(r.error()).context("extract layer " + blob_digest));
  if (!(r->compressed_digest == expected))
    return fail(Errc::corrupt,
                str_cat("filesystem layer verification failed for digest ", blob_digest,
                        " (the bytes received hash to ", r->compressed_digest.to_string(), ")"));
  BERTH_TRY(ingest.commit(expected));
  write_small_file(parent_dir(temp.diff_dir()) + kTarSizeFile, std::to_string(r->size));
  if (!layers_->exists(r->diff_id)) BERTH_TRY(layers_->commit(std::move(temp), r->diff_id));
  std::string mt = media_type.empty() ? layer_media_type(r->compression) : media_type;
  RegisteredLayer out;
  out.layer = LayerRecord{r->diff_id.to_string(), static_cast<int64_t>(r->writer.bytes),
                          static_cast<int64_t>(r->size)};
  out.blob =
      LayerBlob{blob_digest, r->diff_id.to_string(), mt, static_cast<int64_t>(r->compressed_size)};
  return out;
}

Result<std::optional<ImageService::RegisteredLayer>> ImageService::find_layer(
    const std::string& blob_digest, const std::string& diff_id, const std::string& media_type) {
  auto blob = content::Digest::parse(blob_digest);
  auto diff = content::Digest::parse(diff_id);
  if (!blob || !diff) return std::nullopt;
  if (!layers_->exists(*diff) || !content_->exists(*blob)) return std::nullopt;
  RegisteredLayer out;
  auto rec = BERTH_TRY(images_->layer(diff_id));
  if (rec) {
    out.layer = *rec;
  } else {
    auto tar_size = read_tar_size(layers_->dir(*diff) + kTarSizeFile);
    if (!tar_size) return std::nullopt;
    out.layer = LayerRecord{
        diff_id, static_cast<int64_t>(snapshot::tree_size(layers_->diff_dir(*diff))), *tar_size};
  }
  auto size = BERTH_TRY(content_->size(*blob));
  out.blob = LayerBlob{blob_digest, diff_id, media_type, static_cast<int64_t>(size)};
  return out;
}

Result<std::string> ImageService::register_image(const std::string& config,
                                                 const std::vector<RegisteredLayer>& layers,
                                                 const std::vector<std::string>& tags,
                                                 const std::vector<std::string>& repo_digests) {
  ImageConfig cfg = BERTH_TRY(parse_config(config));
  if (cfg.diff_ids.size() != layers.size())
    return fail(Errc::corrupt, str_cat("the image config lists ", cfg.diff_ids.size(),
                                       " layers but the manifest has ", layers.size()));
  ImageRecord img;
  img.id = archive::sha256(config).to_string();
  img.config = config;
  img.diff_ids = cfg.diff_ids;
  img.created = parse_rfc3339(cfg.created);
  std::vector<LayerRecord> recs;
  std::vector<LayerBlob> blobs;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].layer.diff_id != cfg.diff_ids[i])
      return fail(Errc::corrupt,
                  str_cat("layer ", i + 1, " (", layers[i].blob.blob, ") unpacks to ",
                          layers[i].layer.diff_id, " but the image config says ", cfg.diff_ids[i]));
    img.size += layers[i].layer.size;
    recs.push_back(layers[i].layer);
    blobs.push_back(layers[i].blob);
  }
  BERTH_TRY(images_->put(img, recs, blobs, tags));
  for (const auto& d : repo_digests) BERTH_TRY(images_->add_repo_digest(d, img.id));
  return img.id;
}

Result<LayerBlob> ImageService::push_blob(const std::string& diff_id) {
  auto blobs = BERTH_TRY(images_->blobs_for_layer(diff_id));
  std::optional<LayerBlob> plain;
  for (const auto& b : blobs) {
    auto d = content::Digest::parse(b.blob);
    if (!d || !content_->exists(*d)) continue;
    if (is_compressed_type(b.media_type)) return b;
    plain = b;
  }
  if (!plain) return fail(Errc::not_found, "layer " + diff_id + " has no stored archive to push");
  // Compress the plain archive once; the blob is kept for the next push.
  WriteLease lease = hold();
  auto src_digest = BERTH_TRY(content::Digest::parse(plain->blob));
  std::string path = content_->blob_path(src_digest);
  unique_fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return sys_fail(errno, "open " + path);
  auto ingest = BERTH_TRY(content_->begin_ingest());
  archive::CompressStream cs(BERTH_TRY(archive::make_compressor(archive::Compression::gzip)));
  archive::ByteSink sink = [&](std::string_view d) { return ingest.write(d); };
  std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail(errno, "read " + path);
    }
    if (n == 0) break;
    BERTH_TRY(cs.feed(std::string_view(buf.data(), static_cast<size_t>(n)), sink));
  }
  BERTH_TRY(cs.finish(sink));
  uint64_t size = ingest.size();
  auto d = BERTH_TRY(ingest.commit());
  LayerBlob out{d.to_string(), diff_id, std::string(media::docker_layer_gzip),
                static_cast<int64_t>(size)};
  BERTH_TRY(images_->add_blob(out));
  return out;
}

}  // namespace berth::layers::image
