// Content store: blobs (layer archives, manifests, configs) addressed by
// their sha256, under ROOT/content/blobs/sha256/<hex>.
//
// A blob appears under its name only complete and verified: an Ingest
// writes a temp file in ROOT/content/ingest, hashes while writing, and
// commit() renames it into place only if the digest matches what was
// expected (then fsyncs the directory). A crash leaves at most a temp file,
// which open() sweeps away. Which blobs are still wanted is the image
// store's business (it calls remove() from its garbage collector).
//
// All calls block on disk I/O: use them from the blocking pool or a worker
// thread, never a reactor. Thread-safety: the Store is safe to share; an
// Ingest belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "layers/archive/digest.h"

namespace berth::layers::content {

using archive::Digest;

class Store;

class Ingest {
 public:
  Ingest(Ingest&& o) noexcept = default;
  Ingest& operator=(Ingest&& o) noexcept = default;
  ~Ingest();  // removes the temp file unless committed

  Result<void> write(std::string_view data);
  // Verifies against expected (when given), fsyncs and renames into place.
  // If the blob already exists the temp file is dropped and that is success.
  Result<Digest> commit(std::optional<Digest> expected = std::nullopt);
  void abort();
  uint64_t size() const { return size_; }
  const std::string& temp_path() const { return temp_; }

 private:
  friend class Store;
  Ingest(const Store* s, unique_fd fd, std::string temp)
      : store_(s), fd_(std::move(fd)), temp_(std::move(temp)) {}
  const Store* store_;
  unique_fd fd_;
  std::string temp_;
  archive::Sha256 hash_;
  uint64_t size_ = 0;
  bool done_ = false;
};

class Store {
 public:
  // Creates the directories and removes leftover ingest files.
  static Result<std::unique_ptr<Store>> open(const std::string& root);

  std::string blob_path(const Digest& d) const;
  bool exists(const Digest& d) const;
  Result<uint64_t> size(const Digest& d) const;
  // Reads a small blob (manifest, config) whole; too_large beyond limit.
  Result<std::string> read(const Digest& d, size_t limit = 64 << 20) const;
  // Stores a small blob whole.
  Result<Digest> put(std::string_view data, std::optional<Digest> expected = std::nullopt);
  Result<Ingest> begin_ingest() const;
  // Removes a blob; missing is not an error.
  Result<void> remove(const Digest& d);
  Result<std::vector<Digest>> list() const;
  const std::string& root() const { return root_; }

 private:
  friend class Ingest;
  Store() = default;
  std::string root_;  // ROOT/content
  unique_fd blobs_dir_;
};

}  // namespace berth::layers::content
