#include "layers/snapshot/layer_store.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "core/base/log.h"
#include "core/base/strings.h"

namespace berth::layers::snapshot {

namespace fs = std::filesystem;

namespace {
std::string random_suffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t v = rng();
  return to_hex(reinterpret_cast<const unsigned char*>(&v), 8);
}
}  // namespace

Result<void> remove_tree(const std::string& path) {
  auto cb = [](const char* p, const struct stat*, int type, struct FTW*) -> int {
    int rc = type == FTW_DP ? ::rmdir(p) : ::unlink(p);
    if (rc != 0 && errno != ENOENT) return errno;
    return 0;
  };
  int rc = ::nftw(path.c_str(), cb, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (rc != 0 && errno != ENOENT) {
    int e = rc > 0 ? rc : errno;
    return sys_fail(e, "remove " + path);
  }
  return {};
}

uint64_t tree_size(const std::string& dir) {
  static thread_local uint64_t total;
  total = 0;
  auto cb = [](const char*, const struct stat* st, int type, struct FTW*) -> int {
    if (type == FTW_F && S_ISREG(st->st_mode)) total += static_cast<uint64_t>(st->st_size);
    return 0;
  };
  ::nftw(dir.c_str(), cb, 64, FTW_PHYS | FTW_MOUNT);
  return total;
}

TempLayer::TempLayer(TempLayer&& o) noexcept
    : dir_(std::exchange(o.dir_, {})), diff_(std::exchange(o.diff_, {})) {}

TempLayer& TempLayer::operator=(TempLayer&& o) noexcept {
  if (this != &o) {
    if (!dir_.empty()) (void)remove_tree(dir_);
    dir_ = std::exchange(o.dir_, {});
    diff_ = std::exchange(o.diff_, {});
  }
  return *this;
}

TempLayer::~TempLayer() {
  if (!dir_.empty()) (void)remove_tree(dir_);
}

Result<std::unique_ptr<LayerStore>> LayerStore::open(const std::string& root) {
  std::unique_ptr<LayerStore> s(new LayerStore());
  s->root_ = root + "/layers";
  std::error_code ec;
  fs::create_directories(s->root_, ec);
  if (ec) return fail(Errc::io, str_cat("create ", s->root_, ": ", ec.message()));
  ::chmod(s->root_.c_str(), 0700);
  return s;
}

std::string LayerStore::dir(const Digest& d) const {
  return root_ + "/" + d.hex();
}
std::string LayerStore::diff_dir(const Digest& d) const {
  return dir(d) + "/diff";
}

bool LayerStore::exists(const Digest& d) const {
  return ::access(diff_dir(d).c_str(), F_OK) == 0;
}

Result<TempLayer> LayerStore::begin() const {
  std::string d = root_ + "/tmp-" + random_suffix();
  if (::mkdir(d.c_str(), 0700) != 0) return sys_fail(errno, "create " + d);
  TempLayer t(d);
  if (::mkdir(t.diff_.c_str(), 0755) != 0) return sys_fail(errno, "create " + t.diff_);
  return t;
}

Result<void> LayerStore::commit(TempLayer&& t, const Digest& diff_id) const {
  std::string dest = dir(diff_id);
  if (::rename(t.dir_.c_str(), dest.c_str()) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) return {};  // t's destructor removes it
    return sys_fail(errno, "store layer " + diff_id.to_string());
  }
  t.dir_.clear();
  return {};
}

Result<void> LayerStore::remove(const Digest& diff_id) const {
  std::string d = dir(diff_id);
  std::string gone = root_ + "/del-" + random_suffix();
  if (::rename(d.c_str(), gone.c_str()) != 0) {
    if (errno == ENOENT) return {};
    return sys_fail(errno, "remove layer " + diff_id.to_string());
  }
  return remove_tree(gone);
}

std::vector<Digest> LayerStore::list() const {
  std::vector<Digest> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    auto d = Digest::parse("sha256:" + e.path().filename().string());
    if (d) out.push_back(*d);
  }
  return out;
}

size_t LayerStore::sweep(const std::set<std::string>& keep_hex) const {
  size_t n = 0;
  std::error_code ec;
  std::vector<std::string> doomed;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    std::string name = e.path().filename().string();
    if (name.starts_with("tmp-") || name.starts_with("del-") ||
        (name.size() == 64 && is_hex(name) && !keep_hex.count(name)))
      doomed.push_back(e.path().string());
  }
  for (const auto& p : doomed) {
    if (remove_tree(p))
      ++n;
    else
      log::warn("could not remove ", p);
  }
  return n;
}

}  // namespace berth::layers::snapshot
