// ImageService::commit — docker commit: the parent image plus one layer (a
// container's changes) and a new config.
#include <time.h>

#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "layers/image/service.h"

namespace berth::layers::image {

Result<std::string> ImageService::commit(
    const std::string& parent_id, const std::function<Result<void>(const ByteOutput&)>& write_diff,
    const CommitOptions& opts) {
  return collect_on_failure(commit_image(parent_id, write_diff, opts));
}

Result<std::string> ImageService::commit_image(
    const std::string& parent_id, const std::function<Result<void>(const ByteOutput&)>& write_diff,
    const CommitOptions& opts) {
  std::shared_lock gc_guard(gc_mu_);
  ImageRecord parent = BERTH_TRY(images_->get(parent_id));
  ImageConfig pc = BERTH_TRY(parse_config(parent.config));

  auto ingest = BERTH_TRY(content_->begin_ingest());
  BERTH_TRY(write_diff([&](std::string_view d) { return ingest.write(d); }));
  content::Digest blob = BERTH_TRY(ingest.commit());
  RegisteredLayer reg = BERTH_TRY(unpack_blob(blob, std::string(media::oci_layer)));

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  std::string created = format_rfc3339(ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec));
  std::string config;
  json::Writer w(config);
  w.begin_object();
  w.kv("architecture", pc.architecture);
  if (!opts.author.empty()) w.kv("author", opts.author);
  if (!opts.comment.empty()) w.kv("comment", opts.comment);
  w.key("config").raw(opts.run_config_json.empty() ? std::string("{}") : opts.run_config_json);
  if (!opts.container_id.empty()) w.kv("container", opts.container_id);
  if (!opts.container_config_json.empty()) w.key("container_config").raw(opts.container_config_json);
  w.kv("created", created);
  w.key("history").begin_array();
  for (const auto& h : pc.history) {
    w.begin_object();
    if (!h.created.empty()) w.kv("created", h.created);
    if (!h.author.empty()) w.kv("author", h.author);
    if (!h.created_by.empty()) w.kv("created_by", h.created_by);
    if (!h.comment.empty()) w.kv("comment", h.comment);
    if (h.empty_layer) w.kv("empty_layer", true);
    w.end_object();
  }
  w.begin_object().kv("created", created);
  if (!opts.author.empty()) w.kv("author", opts.author);
  if (!opts.created_by.empty()) w.kv("created_by", opts.created_by);
  if (!opts.comment.empty()) w.kv("comment", opts.comment);
  w.end_object();
  w.end_array();
  w.kv("os", pc.os.empty() ? std::string("linux") : pc.os);
  w.key("rootfs").begin_object().kv("type", "layers").key("diff_ids").begin_array();
  for (const auto& d : pc.diff_ids) w.value(d);
  w.value(reg.layer.diff_id);
  w.end_array().end_object();
  if (!pc.variant.empty()) w.kv("variant", pc.variant);
  w.end_object();

  ImageRecord img;
  img.id = archive::sha256(config).to_string();
  img.config = config;
  img.diff_ids = pc.diff_ids;
  img.diff_ids.push_back(reg.layer.diff_id);
  img.created = ts.tv_sec;
  img.parent = parent_id;
  std::vector<LayerRecord> layers;
  std::vector<LayerBlob> blobs;
  for (const auto& d : pc.diff_ids) {
    auto l = BERTH_TRY(images_->layer(d));
    if (l) img.size += l->size;
  }
  img.size += reg.layer.size;
  layers.push_back(reg.layer);
  blobs.push_back(reg.blob);
  std::vector<std::string> tags;
  if (!opts.tag.empty()) tags.push_back(opts.tag);
  BERTH_TRY(images_->put(img, layers, blobs, tags));
  return img.id;
}

}  // namespace berth::layers::image
