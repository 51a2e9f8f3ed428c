// LayerStore: the unpacked layers on disk, one directory per layer, named
// by the layer's diff ID and shared by every image and container that uses
// it: ROOT/layers/<diff-id hex>/diff is the layer's own tree (overlay
// whiteouts included), ready to be an overlay lower directory.
//
// A layer is unpacked into ROOT/layers/tmp-<random>/diff and renamed into
// place only when complete and verified (commit); removal renames to
// del-<random> before deleting, so a crash never leaves a half layer under
// a real name. sweep() removes tmp-/del- leftovers and layers nothing refers
// to. Which layers are referenced is the image store's knowledge.
//
// All calls block (file system): use from the blocking pool or workers.
// Thread-safe: names are random, renames atomic.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "layers/archive/digest.h"

namespace berth::layers::snapshot {

using archive::Digest;

class LayerStore;

// A layer being unpacked; removed on destruction unless committed.
class TempLayer {
 public:
  TempLayer(TempLayer&& o) noexcept;
  TempLayer& operator=(TempLayer&& o) noexcept;
  ~TempLayer();
  const std::string& diff_dir() const { return diff_; }  // unpack here

 private:
  friend class LayerStore;
  TempLayer(std::string dir) : dir_(std::move(dir)), diff_(dir_ + "/diff") {}
  std::string dir_;
  std::string diff_;
};

class LayerStore {
 public:
  static Result<std::unique_ptr<LayerStore>> open(const std::string& root);

  std::string dir(const Digest& diff_id) const;       // ROOT/layers/<hex>
  std::string diff_dir(const Digest& diff_id) const;  // .../diff
  bool exists(const Digest& diff_id) const;

  Result<TempLayer> begin() const;
  // Moves t into place as diff_id. If that layer already exists (another
  // unpack got there first), t is discarded and that is success.
  Result<void> commit(TempLayer&& t, const Digest& diff_id) const;
  Result<void> remove(const Digest& diff_id) const;
  // Layers present on disk.
  std::vector<Digest> list() const;
  // Removes leftovers and every layer not in keep; returns how many went.
  size_t sweep(const std::set<std::string>& keep_hex) const;
  const std::string& root() const { return root_; }

 private:
  LayerStore() = default;
  std::string root_;  // ROOT/layers
};

// Removes a directory tree (no symlink is followed).
Result<void> remove_tree(const std::string& path);
// Sum of the sizes of the regular files below dir (docker's layer size).
uint64_t tree_size(const std::string& dir);

}  // namespace berth::layers::snapshot
