// ImageService::save — docker save: the images as an OCI image layout
// (oci-layout, index.json, blobs/sha256/...) plus docker's manifest.json, so
// both `docker load` and OCI tools (skopeo, umoci) read it. Layers are
// written as uncompressed tars byte-identical to their diff IDs, streamed
// from the stored blobs (decompressed on the fly when stored compressed).
#include <fcntl.h>
#include <unistd.h>

#include <set>

#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "layers/archive/compression.h"
#include "layers/archive/tar_writer.h"
#include "layers/image/service.h"

namespace berth::layers::image {

namespace {

archive::Entry file_entry(const std::string& path, uint64_t size, int64_t mtime) {
  archive::Entry e;
  e.path = path;
  e.type = archive::EntryType::regular;
  e.mode = 0444;
  e.size = size;
  e.mtime.sec = mtime;
  return e;
}

archive::Entry dir_entry(const std::string& path, int64_t mtime) {
  archive::Entry e;
  e.path = path;
  e.type = archive::EntryType::directory;
  e.mode = 0755;
  e.mtime.sec = mtime;
  return e;
}

std::string hex_of(const std::string& digest) {
  return digest.substr(digest.find(':') + 1);
}

}  // namespace

Result<void> ImageService::save(const std::vector<std::string>& names, const ByteOutput& out) {
  struct Item {
    ImageRecord img;
    std::vector<std::string> tags;  // full references to record
  };
  std::vector<Item> items;
  std::map<std::string, size_t> by_id;
  for (const auto& n : names) {
    std::string id = BERTH_TRY(images_->resolve(n));
    auto [it, fresh] = by_id.emplace(id, items.size());
    if (fresh) items.push_back({BERTH_TRY(images_->get(id)), {}});
    Item& item = items[it->second];
    // `docker save busybox` records busybox:latest; saving by ID records no tag.
    std::string nhex = n.starts_with("sha256:") ? n.substr(7) : n;
    if (!(looks_like_id(n) && id.substr(7).starts_with(nhex))) {
      auto ref = parse_reference(n);
      if (ref && !ref->has_digest()) {
        std::string full = ref->str();
        if (std::find(item.tags.begin(), item.tags.end(), full) == item.tags.end())
          item.tags.push_back(full);
      }
    }
  }

  const int64_t epoch = 0;  // fixed times: the same images give the same archive
  archive::TarWriter tw(out);
  BERTH_TRY(tw.add_file(file_entry("oci-layout", 30, epoch), R"({"imageLayoutVersion":"1.0.0"})"));
  BERTH_TRY(tw.add(dir_entry("blobs", epoch)));
  BERTH_TRY(tw.add(dir_entry("blobs/sha256", epoch)));

  std::set<std::string> written;
  Index index;
  index.schema_version = 2;
  index.media_type = std::string(media::oci_index);
  std::string docker_manifest;
  json::Writer dm(docker_manifest);
  dm.begin_array();

  for (const auto& item : items) {
    const ImageRecord& img = item.img;
    // Config.
    std::string config_hex = hex_of(img.id);
    if (written.insert(config_hex).second)
      BERTH_TRY(tw.add_file(file_entry("blobs/sha256/" + config_hex, img.config.size(), epoch),
                            img.config));
    Manifest m;
    m.media_type = std::string(media::oci_manifest);
    m.config = Descriptor{std::string(media::oci_config),
                          img.id,
                          static_cast<int64_t>(img.config.size()),
                          std::nullopt,
                          {}};
    std::vector<std::string> layer_paths;
    for (const auto& diff_id : img.diff_ids) {
      auto rec = BERTH_TRY(images_->layer(diff_id));
      if (!rec) return fail(Errc::not_found, "layer " + diff_id + " is not registered");
      m.layers.push_back(
          Descriptor{std::string(media::oci_layer), diff_id, rec->tar_size, std::nullopt, {}});
      std::string hex = hex_of(diff_id);
      layer_paths.push_back("blobs/sha256/" + hex);
      if (!written.insert(hex).second) continue;
      auto blobs = BERTH_TRY(images_->blobs_for_layer(diff_id));
      std::optional<content::Digest> blob;
      for (const auto& b : blobs) {
        auto d = content::Digest::parse(b.blob);
        if (d && content_->exists(*d)) {
          blob = *d;
          break;
        }
      }
      if (!blob) return fail(Errc::not_found, "the archive of layer " + diff_id + " is not stored");
      BERTH_TRY(
          tw.add(file_entry("blobs/sha256/" + hex, static_cast<uint64_t>(rec->tar_size), epoch)));
      // Stream the blob, decompressing if it is stored compressed, and check
      // that what goes out really is the layer.
      unique_fd fd(::open(content_->blob_path(*blob).c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return sys_fail(errno, "open blob " + blob->to_string());
      std::unique_ptr<char[]> buf(new char[1 << 20]);
      std::optional<archive::DecompressStream> dec;
      archive::Sha256 check;
      uint64_t sent = 0;
      archive::ByteSink sink = [&](std::string_view d) -> Result<void> {
        check.update(d);
        sent += d.size();
        return tw.write_data(d);
      };
      bool first = true;
      for (;;) {
        ssize_t n = ::read(fd.get(), buf.get(), 1 << 20);
        if (n < 0) {
          if (errno == EINTR) continue;
          return sys_fail(errno, "read blob " + blob->to_string());
        }
        std::string_view chunk(buf.get(), static_cast<size_t>(n));
        if (first) {
          first = false;
          auto c = archive::detect_compression(chunk);
          if (c != archive::Compression::none)
            dec.emplace(BERTH_TRY(archive::make_decompressor(c)));
        }
        if (n == 0) break;
        if (dec)
          BERTH_TRY(dec->feed(chunk, sink));
        else
          BERTH_TRY(sink(chunk));
      }
      if (dec) BERTH_TRY(dec->finish(sink));
      if (sent != static_cast<uint64_t>(rec->tar_size) || !(check.finish().to_string() == diff_id))
        return fail(Errc::corrupt, "stored archive of layer " + diff_id + " does not match it");
    }
    std::string mjson = write_manifest(m);
    content::Digest mdig = archive::sha256(mjson);
    if (written.insert(mdig.hex()).second)
      BERTH_TRY(tw.add_file(file_entry("blobs/sha256/" + mdig.hex(), mjson.size(), epoch), mjson));
    auto add_index = [&](const std::string& tag) {
      Descriptor d{std::string(media::oci_manifest),
                   mdig.to_string(),
                   static_cast<int64_t>(mjson.size()),
                   std::nullopt,
                   {}};
      if (!tag.empty()) {
        auto ref = parse_reference(tag).value();
        d.annotations["io.containerd.image.name"] = ref.str();
        d.annotations["org.opencontainers.image.ref.name"] = ref.tag;
      }
      index.manifests.push_back(std::move(d));
    };
    if (item.tags.empty()) add_index("");
    for (const auto& t : item.tags) add_index(t);

    dm.begin_object();
    dm.kv("Config", "blobs/sha256/" + config_hex);
    dm.key("RepoTags");
    if (item.tags.empty()) {
      dm.null();
    } else {
      dm.begin_array();
      for (const auto& t : item.tags) dm.value(parse_reference(t).value().familiar());
      dm.end_array();
    }
    dm.key("Layers").string_array(layer_paths);
    dm.end_object();
  }
  dm.end_array();
  std::string ij = write_index(index);
  BERTH_TRY(tw.add_file(file_entry("index.json", ij.size(), epoch), ij));
  BERTH_TRY(
      tw.add_file(file_entry("manifest.json", docker_manifest.size(), epoch), docker_manifest));
  return tw.finish();
}

}  // namespace berth::layers::image
