#include "layers/image/service.h"

#include <mutex>
#include <set>

#include "core/base/log.h"
#include "core/base/strings.h"

namespace berth::layers::image {

Result<std::unique_ptr<ImageService>> ImageService::open(const std::string& root, db::Database& db,
                                                         ServiceOptions opts) {
  std::unique_ptr<ImageService> s(new ImageService());
  s->opts_ = opts;
  s->db_ = &db;
  s->content_ = BERTH_TRY(content::Store::open(root));
  s->layers_ = BERTH_TRY(snapshot::LayerStore::open(root));
  s->images_ = BERTH_TRY(ImageStore::open(db));
  return s;
}

std::string ImageService::layer_dir(const std::string& diff_id) const {
  auto d = content::Digest::parse(diff_id);
  return d ? layers_->diff_dir(*d) : std::string();
}

Result<void> ImageService::recover() {
  std::unique_lock lock(gc_mu_);
  auto keep = BERTH_TRY(images_->referenced_layers());
  // Rows for layers whose directory a crash took away are useless; images
  // that need them would be broken, so report them.
  std::set<std::string> keep_hex;
  for (const auto& d : keep) {
    auto dg = content::Digest::parse(d);
    if (!dg) continue;
    if (!layers_->exists(*dg)) log::warn("layer ", d, " is registered but missing on disk");
    keep_hex.insert(dg->hex());
  }
  size_t n = layers_->sweep(keep_hex);
  if (n) log::info("removed ", n, " unregistered layer directories");
  auto dropped = BERTH_TRY(images_->drop_unreferenced_layers());
  auto blobs = BERTH_TRY(images_->referenced_blobs());
  size_t removed_blobs = 0;
  for (const auto& b : BERTH_TRY(content_->list())) {
    if (blobs.count(b.to_string())) continue;
    if (content_->remove(b)) ++removed_blobs;
  }
  if (removed_blobs) log::info("removed ", removed_blobs, " unreferenced blobs");
  return {};
}

Result<uint64_t> ImageService::gc() {
  std::unique_lock lock(gc_mu_);
  uint64_t reclaimed = 0;
  auto dropped = BERTH_TRY(images_->drop_unreferenced_layers());
  for (const auto& d : dropped) {
    auto dg = content::Digest::parse(d);
    if (!dg) continue;
    reclaimed += snapshot::tree_size(layers_->diff_dir(*dg));
    BERTH_TRY(layers_->remove(*dg));
  }
  // Layer directories without a row (e.g. unpacked for a load that failed).
  auto keep = BERTH_TRY(images_->referenced_layers());
  std::set<std::string> keep_hex;
  for (const auto& d : keep)
    if (auto dg = content::Digest::parse(d)) keep_hex.insert(dg->hex());
  for (const auto& d : layers_->list())
    if (!keep_hex.count(d.hex())) BERTH_TRY(layers_->remove(d));
  auto blobs = BERTH_TRY(images_->referenced_blobs());
  for (const auto& b : BERTH_TRY(content_->list())) {
    if (blobs.count(b.to_string())) continue;
    if (auto sz = content_->size(b)) reclaimed += *sz;
    BERTH_TRY(content_->remove(b));
  }
  return reclaimed;
}

std::string layer_media_type(archive::Compression c) {
  return c == archive::Compression::gzip   ? std::string(media::oci_layer_gzip)
         : c == archive::Compression::zstd ? std::string(media::oci_layer_zstd)
                                           : std::string(media::oci_layer);
}

Result<ImageService::RegisteredLayer> ImageService::unpack_blob(const content::Digest& blob,
                                                                std::string media_type) {
  auto temp = BERTH_TRY(layers_->begin());
  auto r = extract::unpack_file(content_->blob_path(blob), temp.diff_dir(), opts_.unpack);
  if (!r) return std::unexpected(std::move(r.error()).context("unpack layer " + blob.to_string()));
  if (!(r->compressed_digest == blob))
    return fail(Errc::corrupt, str_cat("layer blob ", blob.to_string(), " changed on disk (now ",
                                       r->compressed_digest.to_string(), ")"));
  if (!layers_->exists(r->diff_id)) BERTH_TRY(layers_->commit(std::move(temp), r->diff_id));
  if (media_type.empty()) media_type = layer_media_type(r->compression);
  RegisteredLayer out;
  out.layer = LayerRecord{r->diff_id.to_string(), static_cast<int64_t>(r->writer.bytes),
                          static_cast<int64_t>(r->size)};
  out.blob = LayerBlob{blob.to_string(), r->diff_id.to_string(), media_type,
                       static_cast<int64_t>(r->compressed_size)};
  return out;
}

Result<void> ImageService::tag(const std::string& name_or_id, const std::string& new_tag) {
  std::string id = BERTH_TRY(images_->resolve(name_or_id));
  auto ref = BERTH_TRY(parse_reference(new_tag));
  if (ref.has_digest())
    return fail(Errc::invalid_argument, "refusing to create a tag with a digest reference");
  return images_->tag(ref.str(), id);
}

Result<void> ImageService::remove_image_data(const std::string& id) {
  BERTH_TRY(images_->remove(id));
  return {};
}

namespace {
std::string short_id(const std::string& id) {
  std::string hex = id.starts_with("sha256:") ? id.substr(7) : id;
  return hex.substr(0, 12);
}
std::string familiar(const std::string& full) {
  auto r = parse_reference(full, false);
  return r ? r->familiar() : full;
}
}  // namespace

Result<std::vector<RemovedItem>> ImageService::remove(
    const std::string& name, bool force, const std::function<bool(const std::string&)>& in_use) {
  std::vector<RemovedItem> out;
  std::string id = BERTH_TRY(images_->resolve(name));
  ImageRecord img = BERTH_TRY(images_->get(id));
  // As docker decides: a name that is a prefix of the image's ID names the
  // image itself; anything else is a reference to drop.
  std::string name_hex = name.starts_with("sha256:") ? name.substr(7) : name;
  bool by_id = looks_like_id(name) && id.substr(7).starts_with(name_hex);
  std::optional<Reference> ref;
  if (!by_id) ref = BERTH_TRY(parse_reference(name));

  if (ref) {
    std::string full = ref->has_digest() ? ref->repository() + "@" + ref->digest : ref->str();
    // As docker: once a repository's last tag goes, that repository's
    // digest references go with it; the image goes when no name is left.
    std::vector<std::string> same_repo_digests;
    size_t names = img.repo_tags.size() + img.repo_digests.size();
    if (!ref->has_digest()) {
      bool other_tag_same_repo = false;
      for (const auto& t : img.repo_tags) {
        auto tr = parse_reference(t, false);
        if (t != full && tr && tr->repository() == ref->repository()) other_tag_same_repo = true;
      }
      if (!other_tag_same_repo) {
        for (const auto& d : img.repo_digests) {
          auto dr = parse_reference(d, false);
          if (dr && dr->repository() == ref->repository()) same_repo_digests.push_back(d);
        }
      }
      names -= same_repo_digests.size();
    }
    if (names > 1 || (in_use && in_use(id) && !force)) {
      if (names <= 1 && in_use && in_use(id))
        return fail(
            Errc::conflict,
            str_cat("conflict: unable to remove repository reference \"", name,
                    "\" (must force) - container is using its referenced image ", short_id(id)));
      if (ref->has_digest()) {
        auto st = BERTH_TRY(db_->prepare("DELETE FROM repo_digests WHERE name = ?1"));
        st.bind(1, full);
        BERTH_TRY(st.run());
      } else {
        BERTH_TRY(images_->untag(full));
        for (const auto& d : same_repo_digests) {
          auto st = BERTH_TRY(db_->prepare("DELETE FROM repo_digests WHERE name = ?1"));
          st.bind(1, d);
          BERTH_TRY(st.run());
        }
      }
      out.push_back({familiar(full), ""});
      for (const auto& d : same_repo_digests) out.push_back({familiar(d), ""});
      return out;
    }
  } else if (!force && img.repo_tags.size() > 1) {
    return fail(Errc::conflict, str_cat("conflict: unable to delete ", short_id(id),
                                        " (must be forced) - image is referenced in multiple "
                                        "repositories"));
  }
  if (in_use && in_use(id) && !force)
    return fail(Errc::conflict, str_cat("conflict: unable to delete ", short_id(id),
                                        " (must be forced) - image is being used by a container"));
  auto kids = BERTH_TRY(images_->children(id));
  if (!kids.empty())
    return fail(Errc::conflict, str_cat("conflict: unable to delete ", short_id(id),
                                        " (cannot be forced) - image has dependent child images"));
  for (const auto& t : img.repo_tags) out.push_back({familiar(t), ""});
  for (const auto& d : img.repo_digests) out.push_back({familiar(d), ""});
  if (in_use && in_use(id)) {
    // Forced while a container uses it: drop the names, keep the image.
    for (const auto& t : img.repo_tags) BERTH_TRY(images_->untag(t));
    return out;
  }
  BERTH_TRY(remove_image_data(id));
  out.push_back({"", id});
  BERTH_TRY(gc());
  return out;
}

Result<std::vector<RemovedItem>> ImageService::prune(
    bool all_unused, const std::function<bool(const ImageRecord&)>& filter,
    const std::function<bool(const std::string&)>& in_use, uint64_t* reclaimed) {
  std::vector<RemovedItem> out;
  auto all = BERTH_TRY(images_->list());
  std::set<std::string> parents;
  for (const auto& i : all)
    if (!i.parent.empty()) parents.insert(i.parent);
  for (const auto& img : all) {
    bool dangling = img.repo_tags.empty();
    if (!all_unused && !dangling) continue;
    if (in_use && in_use(img.id)) continue;
    if (parents.count(img.id)) continue;
    if (filter && !filter(img)) continue;
    for (const auto& t : img.repo_tags) out.push_back({familiar(t), ""});
    BERTH_TRY(remove_image_data(img.id));
    out.push_back({"", img.id});
  }
  uint64_t n = BERTH_TRY(gc());
  if (reclaimed) *reclaimed = n;
  return out;
}

}  // namespace berth::layers::image
