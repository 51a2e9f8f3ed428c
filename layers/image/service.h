// ImageService: what the daemon does with images — load and save archives,
// import root filesystems, tag, remove, prune, collect garbage — built from
// the content store (blobs), the layer store (unpacked layers), the
// extraction engine and the image store (metadata).
//
// Crash safety: blobs and layer directories appear under their names only
// complete and verified; an image with its layers and tags is registered in
// one transaction afterwards; recover() at startup removes whatever a crash
// left unregistered. Concurrency: loads and imports run side by side; GC
// waits for them (a shared/exclusive lock), so it never removes a blob or a
// layer that a load in flight is about to register.
//
// Every call blocks: run from the blocking pool. Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>  // std::shared_lock over GcGate
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/db.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "layers/content/store.h"
#include "layers/extract/unpack.h"
#include "layers/image/oci.h"
#include "layers/image/reference.h"
#include "layers/image/store.h"
#include "layers/snapshot/layer_store.h"

namespace berth::layers::image {

using Progress = std::function<void(std::string_view line)>;

// Shared: work that writes blobs and layers before it registers them (load,
// import, commit, pull); exclusive: the garbage collector. Unlike
// std::shared_mutex, a shared hold may be released on another thread than
// the one that took it (a pull takes it on the pool, lets it go on a
// reactor). Writers wait while gc runs or waits.
class GcGate {
 public:
  void lock_shared();
  void unlock_shared();
  void lock();
  void unlock();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int shared_ = 0;
  int exclusive_waiting_ = 0;
  bool exclusive_ = false;
};

// A shared hold of a GcGate for as long as the lease lives.
class WriteLease {
 public:
  WriteLease() = default;
  explicit WriteLease(GcGate* g) : g_(g) { g_->lock_shared(); }
  WriteLease(WriteLease&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
  WriteLease& operator=(WriteLease&& o) noexcept {
    if (this != &o) {
      if (g_) g_->unlock_shared();
      g_ = std::exchange(o.g_, nullptr);
    }
    return *this;
  }
  ~WriteLease() {
    if (g_) g_->unlock_shared();
  }

 private:
  GcGate* g_ = nullptr;
};
using ByteOutput = std::function<Result<void>(std::string_view)>;

struct ServiceOptions {
  unsigned unpack_parallel = 0;  // layers unpacked at once; 0: one per core
  extract::UnpackOptions unpack;
};

struct LoadResult {
  std::vector<std::string> tags;  // familiar names of the tags loaded
  std::vector<std::string> ids;   // images loaded without a tag
};

struct ImportOptions {
  std::string tag;                   // full reference or ""
  std::string message;               // history comment
  std::vector<std::string> changes;  // Dockerfile instructions (CMD, ENV, ...)
  std::string os = "linux";
  std::string architecture;  // default: the host's
};

struct CommitOptions {
  std::string tag;  // full reference or ""
  std::string comment, author;
  std::string run_config_json;  // the new image's "config" object
  std::string created_by;       // the history line
  std::string container_id;
  std::string container_config_json;
};

struct RemovedItem {
  std::string untagged;  // familiar reference
  std::string deleted;   // image ID
};

class ImageService {
 public:
  static Result<std::unique_ptr<ImageService>> open(const std::string& root, db::Database& db,
                                                    ServiceOptions opts = {});

  ImageStore& images() { return *images_; }
  content::Store& content() { return *content_; }
  snapshot::LayerStore& layers() { return *layers_; }

  // Startup: removes leftovers of interrupted work and orphans.
  Result<void> recover();

  // docker load: a docker-archive (manifest.json) or OCI image layout tar.
  Result<LoadResult> load(const extract::Source& src, const Progress& progress);
  // docker import: a root filesystem tar (any compression) as a one-layer image.
  Result<std::string> import(const extract::Source& src, const ImportOptions& opts);
  // docker save: images as an OCI layout with docker's manifest.json.
  Result<void> save(const std::vector<std::string>& names, const ByteOutput& out);

  // docker commit: a new image from parent plus one layer whose archive
  // write_diff produces (a container's changes).
  Result<std::string> commit(const std::string& parent_id,
                             const std::function<Result<void>(const ByteOutput&)>& write_diff,
                             const CommitOptions& opts);

  // Points a new tag (a full reference) at an image.
  Result<void> tag(const std::string& name_or_id, const std::string& new_tag);
  // docker rmi. in_use(id) tells whether a container uses the image.
  Result<std::vector<RemovedItem>> remove(const std::string& name, bool force,
                                          const std::function<bool(const std::string&)>& in_use);
  // docker image prune: dangling images (all unused ones when all_unused).
  Result<std::vector<RemovedItem>> prune(bool all_unused,
                                         const std::function<bool(const ImageRecord&)>& filter,
                                         const std::function<bool(const std::string&)>& in_use,
                                         uint64_t* reclaimed);
  // Removes layers and blobs that no image refers to.
  Result<uint64_t> gc();

  // --- for the registry client (pull and push; layers/image/transfer.cc) ---

  // Holds off gc while a pull writes layers it registers later. Blocks
  // while gc runs.
  WriteLease hold() { return WriteLease(&gc_mu_); }
  struct RegisteredLayer;
  // Unpacks one layer blob streamed from src while storing it, verifies the
  // bytes against blob_digest ("filesystem layer verification failed" if
  // they differ: nothing is kept), then stores blob and layer.
  Result<RegisteredLayer> ingest_layer(const extract::Source& src, const std::string& blob_digest,
                                       const std::string& media_type);
  // The layer diff_id with its blob, if both are here already (a pull
  // skips it: "Already exists").
  Result<std::optional<RegisteredLayer>> find_layer(const std::string& blob_digest,
                                                    const std::string& diff_id,
                                                    const std::string& media_type);
  // Registers an image from its config and layers (in order; their diff
  // IDs must be the config's), pointing tags and repo digests at it.
  // Returns the image ID.
  Result<std::string> register_image(const std::string& config,
                                     const std::vector<RegisteredLayer>& layers,
                                     const std::vector<std::string>& tags,
                                     const std::vector<std::string>& repo_digests);
  // A compressed blob of a layer for pushing: a stored gzip/zstd one, or a
  // gzip one made now from its stored plain archive (and kept, so the next
  // push sends the same bytes).
  Result<LayerBlob> push_blob(const std::string& diff_id);

  // A registered layer's directory (an overlay lower dir).
  std::string layer_dir(const std::string& diff_id) const;

  // Registers a layer from an archive in the content store (unpacking it
  // unless present) and returns its record. Used by load, import, commit.
  struct RegisteredLayer {
    LayerRecord layer;
    LayerBlob blob;
  };

 private:
  // The bodies of load, import and commit; on failure the public calls
  // collect what they left (blobs, layer directories) with gc().
  Result<LoadResult> load_image(const extract::Source& src, const Progress& progress);
  Result<std::string> import_image(const extract::Source& src, const ImportOptions& opts);
  Result<std::string> commit_image(const std::string& parent_id,
                                   const std::function<Result<void>(const ByteOutput&)>& write_diff,
                                   const CommitOptions& opts);
  template <class R>
  R collect_on_failure(R r) {
    if (!r) {
      if (auto g = gc(); !g) log::warn("clean-up after a failed image write: ", g.error().message);
    }
    return r;
  }
  ImageService() = default;
  Result<RegisteredLayer> unpack_blob(const content::Digest& blob, std::string media_type);
  Result<void> remove_image_data(const std::string& id);

  ServiceOptions opts_;
  db::Database* db_ = nullptr;
  std::unique_ptr<content::Store> content_;
  std::unique_ptr<snapshot::LayerStore> layers_;
  std::unique_ptr<ImageStore> images_;
  GcGate gc_mu_;  // shared: loads/imports/pulls; exclusive: gc
};

// The OCI media type of a layer archive of compression c.
std::string layer_media_type(archive::Compression c);

// Docker's --change instructions applied to an image config's RunConfig
// JSON; returns the new "config" object text.
Result<std::string> apply_changes(const std::string& config_raw,
                                  const std::vector<std::string>& changes);

}  // namespace berth::layers::image
