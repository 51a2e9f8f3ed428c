// ImageStore: image metadata in the state database — images (ID = digest of
// the config, the config's exact bytes), their ordered layers, repository
// tags and digests, the unpacked layers and the blobs that hold each
// layer's archive (for save and push).
//
// Tables (ROOT/berth.db): images, image_layers, tags, repo_digests, layers,
// layer_blobs. Registering an image with its layers and tags is one
// transaction: either all of it is visible or none.
//
// Every call blocks (SQLite): use from the blocking pool. Thread-safe
// (the database serializes).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/base/db.h"
#include "core/base/error.h"

namespace berth::layers::image {

struct ImageRecord {
  std::string id;      // "sha256:<config digest>"
  std::string config;  // the config's exact bytes
  std::vector<std::string> diff_ids;
  std::vector<std::string> repo_tags;     // full: docker.io/library/busybox:latest
  std::vector<std::string> repo_digests;  // full: docker.io/library/busybox@sha256:...
  int64_t created = 0;                    // from the config (unix seconds)
  int64_t size = 0;                       // sum of its layers' sizes
  int64_t added = 0;                      // when stored here (unix seconds)
  std::string parent;                     // local parent image (builds), or ""
};

struct LayerRecord {
  std::string diff_id;
  int64_t size = 0;      // bytes of regular files in the layer (docker's size)
  int64_t tar_size = 0;  // bytes of the uncompressed layer archive
};

struct LayerBlob {
  std::string blob;  // digest of the stored archive
  std::string diff_id;
  std::string media_type;
  int64_t size = 0;
};

class ImageStore {
 public:
  static Result<std::unique_ptr<ImageStore>> open(db::Database& db);

  // Adds (or refreshes) an image with its layers and blobs, and points tags
  // at it (moving them off any other image), all in one transaction.
  Result<void> put(const ImageRecord& img, const std::vector<LayerRecord>& layers,
                   const std::vector<LayerBlob>& blobs, const std::vector<std::string>& tags);

  Result<ImageRecord> get(const std::string& id);
  bool exists(const std::string& id);
  Result<std::vector<ImageRecord>> list();
  Result<int64_t> count();
  // Resolves what a user typed to an image ID: a reference (normalized
  // here), "name@digest", a full or unique short ID. not_found in docker's
  // words ("No such image: x").
  Result<std::string> resolve(const std::string& name_or_id);

  // Points tag (a full normalized reference) at id.
  Result<void> tag(const std::string& tag, const std::string& id);
  // Removes one tag; not_found if absent.
  Result<void> untag(const std::string& tag);
  Result<void> add_repo_digest(const std::string& ref, const std::string& id);
  // Removes the image row, its tags and digests (not its layers).
  Result<void> remove(const std::string& id);

  Result<std::optional<LayerRecord>> layer(const std::string& diff_id);
  Result<std::vector<LayerBlob>> blobs_for_layer(const std::string& diff_id);
  // Records another stored archive of a registered layer.
  Result<void> add_blob(const LayerBlob& b);
  // Diff IDs that some image uses; blob digests whose layer some image uses.
  Result<std::set<std::string>> referenced_layers();
  Result<std::set<std::string>> referenced_blobs();
  // Drops layer rows (and their blob rows) that no image uses; returns them.
  Result<std::vector<std::string>> drop_unreferenced_layers();

  // Images whose parent is id (docker refuses to delete those untagged).
  Result<std::vector<std::string>> children(const std::string& id);

 private:
  explicit ImageStore(db::Database& db) : db_(db) {}
  Result<ImageRecord> load_row(db::Statement& st);
  Result<void> fill_names(ImageRecord& r);
  db::Database& db_;
};

}  // namespace berth::layers::image
