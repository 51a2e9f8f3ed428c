#include "layers/content/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "core/base/strings.h"

namespace berth::layers::content {

namespace fs = std::filesystem;

namespace {

Result<void> write_fully(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail(errno, "write " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

std::string random_name() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t a = rng(), b = rng();
  unsigned char bytes[16];
  std::memcpy(bytes, &a, 8);
  std::memcpy(bytes + 8, &b, 8);
  return to_hex(bytes, 16);
}

}  // namespace

Ingest::~Ingest() {
  if (!done_ && !temp_.empty()) abort();
}

Result<void> Ingest::write(std::string_view data) {
  if (done_) return fail(Errc::internal, "write after commit");
  hash_.update(data);
  size_ += data.size();
  return write_fully(fd_.get(), data, temp_);
}

void Ingest::abort() {
  if (done_) return;
  done_ = true;
  fd_.reset();
  ::unlink(temp_.c_str());
}

Result<Digest> Ingest::commit(std::optional<Digest> expected) {
  if (done_) return fail(Errc::internal, "ingest already finished");
  Digest got = hash_.finish();
  if (expected && !(got == *expected)) {
    abort();
    return fail(Errc::corrupt, str_cat("digest mismatch: expected ", expected->to_string(),
                                       ", got ", got.to_string()));
  }
  if (::fdatasync(fd_.get()) != 0) {
    int e = errno;
    abort();
    return sys_fail(e, "sync " + temp_);
  }
  fd_.reset();
  std::string dest = store_->blob_path(got);
  if (::rename(temp_.c_str(), dest.c_str()) != 0) {
    int e = errno;
    abort();
    return sys_fail(e, "store blob " + got.to_string());
  }
  done_ = true;
  ::fsync(store_->blobs_dir_.get());
  return got;
}

Result<std::unique_ptr<Store>> Store::open(const std::string& root) {
  std::unique_ptr<Store> s(new Store());
  s->root_ = root + "/content";
  std::error_code ec;
  fs::create_directories(s->root_ + "/blobs/sha256", ec);
  if (ec) return fail(Errc::io, str_cat("create ", s->root_, ": ", ec.message()));
  fs::create_directories(s->root_ + "/ingest", ec);
  if (ec) return fail(Errc::io, str_cat("create ", s->root_, "/ingest: ", ec.message()));
  // Leftovers of ingests a crash interrupted.
  for (const auto& e : fs::directory_iterator(s->root_ + "/ingest", ec))
    fs::remove_all(e.path(), ec);
  s->blobs_dir_.reset(
      ::open((s->root_ + "/blobs/sha256").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!s->blobs_dir_) return sys_fail(errno, "open blob directory");
  return s;
}

std::string Store::blob_path(const Digest& d) const {
  return root_ + "/blobs/sha256/" + d.hex();
}

bool Store::exists(const Digest& d) const {
  return ::access(blob_path(d).c_str(), F_OK) == 0;
}

Result<uint64_t> Store::size(const Digest& d) const {
  struct stat st;
  if (::stat(blob_path(d).c_str(), &st) != 0) {
    if (errno == ENOENT) return fail(Errc::not_found, "blob " + d.to_string() + " not found");
    return sys_fail(errno, "stat blob " + d.to_string());
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> Store::read(const Digest& d, size_t limit) const {
  std::string path = blob_path(d);
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return fail(Errc::not_found, "blob " + d.to_string() + " not found");
    return sys_fail(errno, "open blob " + d.to_string());
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return sys_fail(errno, "stat blob " + d.to_string());
  if (static_cast<uint64_t>(st.st_size) > limit)
    return fail(Errc::too_large,
                str_cat("blob ", d.to_string(), " is larger than ", limit, " bytes"));
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::pread(fd.get(), out.data() + off, out.size() - off, static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail(errno, "read blob " + d.to_string());
    }
    if (n == 0) break;
    off += static_cast<size_t>(n);
  }
  out.resize(off);
  return out;
}

Result<Ingest> Store::begin_ingest() const {
  std::string temp = root_ + "/ingest/" + random_name();
  unique_fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return sys_fail(errno, "create " + temp);
  return Ingest(this, std::move(fd), std::move(temp));
}

Result<Digest> Store::put(std::string_view data, std::optional<Digest> expected) {
  Digest d = archive::sha256(data);
  if (expected && !(d == *expected))
    return fail(Errc::corrupt, str_cat("digest mismatch: expected ", expected->to_string(),
                                       ", got ", d.to_string()));
  if (exists(d)) return d;
  Ingest in = BERTH_TRY(begin_ingest());
  BERTH_TRY(in.write(data));
  return in.commit(d);
}

Result<void> Store::remove(const Digest& d) {
  if (::unlink(blob_path(d).c_str()) != 0 && errno != ENOENT)
    return sys_fail(errno, "remove blob " + d.to_string());
  return {};
}

Result<std::vector<Digest>> Store::list() const {
  std::vector<Digest> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256", ec)) {
    auto d = Digest::parse("sha256:" + e.path().filename().string());
    if (d) out.push_back(*d);
  }
  if (ec) return fail(Errc::io, "list blobs: " + ec.message());
  return out;
}

}  // namespace berth::layers::content
