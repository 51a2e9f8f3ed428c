#include "core/runtime/user_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/base/strings.h"
#include "core/base/unique_fd.h"

namespace berth::core::runtime {

namespace {

constexpr int max_symlinks = 40;  // the kernel's MAXSYMLINKS

// One directory of the merged view: its directories in the layers that
// contribute to it, top first.
using MergedDir = std::vector<unique_fd>;

bool is_whiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool is_opaque(int dirfd) {
  char v[2];
  ssize_t n = ::fgetxattr(dirfd, "trusted.overlay.opaque", v, sizeof v);
  return n == 1 && v[0] == 'y';
}

Result<unique_fd> open_dir(int at, const char* name, std::string_view what) {
  int fd = ::openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_fail(errno, str_cat("open ", what));
  return unique_fd(fd);
}

// What a name in a merged directory is.
struct Entry {
  enum class Kind { absent, dir, symlink, file, other } kind = Kind::absent;
  MergedDir dirs;     // kind == dir
  int layer_fd = -1;  // the directory holding the entry, for the other kinds
  off_t size = 0;
};

Result<Entry> lookup(const MergedDir& parent, const std::string& name, std::string_view where) {
  Entry e;
  for (const auto& d : parent) {
    struct stat st;
    if (::fstatat(d.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return sys_fail(errno, str_cat("stat ", where));
    }
    if (is_whiteout(st)) break;
    if (!S_ISDIR(st.st_mode)) {
      if (e.dirs.empty()) {
        e.kind = S_ISLNK(st.st_mode)   ? Entry::Kind::symlink
                 : S_ISREG(st.st_mode) ? Entry::Kind::file
                                       : Entry::Kind::other;
        e.layer_fd = d.get();
        e.size = st.st_size;
      }
      break;  // a non-directory ends the merge, whether it is on top or below
    }
    e.kind = Entry::Kind::dir;
    e.dirs.push_back(BERTH_TRY(open_dir(d.get(), name.c_str(), where)));
    if (is_opaque(e.dirs.back().get())) break;
  }
  return e;
}

// Splits a path into its components, in reverse order (a stack to pop).
void push_components(std::vector<std::string>& stack, std::string_view path) {
  auto parts = split(path, '/');
  for (auto it = parts.rbegin(); it != parts.rend(); ++it)
    if (!it->empty() && *it != ".") stack.emplace_back(*it);
}

Result<std::string> read_file_at(int dirfd, const std::string& name, off_t size, size_t max_bytes,
                                 std::string_view where) {
  if (static_cast<uint64_t>(size) > max_bytes)
    return fail(Errc::too_large, str_cat("read ", where, ": file exceeds ", max_bytes, " bytes"));
  unique_fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd) return sys_fail(errno, str_cat("open ", where));
  std::string out;
  out.resize(static_cast<size_t>(size) + 1);
  size_t len = 0;
  for (;;) {
    if (len == out.size()) {
      if (out.size() > max_bytes)
        return fail(Errc::too_large,
                    str_cat("read ", where, ": file exceeds ", max_bytes, " bytes"));
      out.resize(out.size() * 2);
    }
    ssize_t n = ::read(fd.get(), out.data() + len, out.size() - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail(errno, str_cat("read ", where));
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  if (len > max_bytes)
    return fail(Errc::too_large, str_cat("read ", where, ": file exceeds ", max_bytes, " bytes"));
  out.resize(len);
  return out;
}

}  // namespace

Result<std::optional<std::string>> read_layered_file(std::span<const std::string> layers,
                                                     std::string_view path, size_t max_bytes) {
  std::string where = str_cat("/", path);
  // The merged directories from the root down to the current one.
  std::vector<MergedDir> chain(1);
  for (const auto& layer : layers)
    chain[0].push_back(BERTH_TRY(open_dir(AT_FDCWD, layer.c_str(), str_cat("layer ", layer))));

  std::vector<std::string> todo;
  push_components(todo, path);
  int symlinks = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.back());
    todo.pop_back();
    if (name == "..") {
      if (chain.size() > 1) chain.pop_back();
      continue;
    }
    Entry e = BERTH_TRY(lookup(chain.back(), name, where));
    switch (e.kind) {
      case Entry::Kind::absent: return std::optional<std::string>();
      case Entry::Kind::dir:
        chain.push_back(std::move(e.dirs));
        if (todo.empty())
          return fail(Errc::invalid_argument, str_cat("read ", where, ": is a directory"));
        continue;
      case Entry::Kind::symlink: {
        if (++symlinks > max_symlinks) return sys_fail(ELOOP, str_cat("resolve ", where));
        std::string target(4096, '\0');
        ssize_t n = ::readlinkat(e.layer_fd, name.c_str(), target.data(), target.size());
        if (n < 0) return sys_fail(errno, str_cat("readlink ", where));
        target.resize(static_cast<size_t>(n));
        if (target.starts_with('/')) chain.resize(1);
        push_components(todo, target);
        continue;
      }
      case Entry::Kind::file:
        if (!todo.empty()) return std::optional<std::string>();  // a file used as a directory
        return std::optional<std::string>(
            BERTH_TRY(read_file_at(e.layer_fd, name, e.size, max_bytes, where)));
      case Entry::Kind::other:
        if (!todo.empty()) return std::optional<std::string>();
        return fail(Errc::invalid_argument, str_cat("read ", where, ": not a regular file"));
    }
  }
  // The path named the root itself (or "", ".", "/").
  return fail(Errc::invalid_argument, str_cat("read ", where, ": is a directory"));
}

Result<UserDatabase> read_user_database(std::span<const std::string> layers) {
  UserDatabase db;
  for (auto [path, out] :
       {std::pair{"etc/passwd", &db.passwd}, std::pair{"etc/group", &db.group}}) {
    auto r = read_layered_file(layers, path);
    if (r) {
      *out = std::move(*r);
    } else if (r.error().code != Errc::invalid_argument) {
      return std::unexpected(std::move(r.error()));
    }
  }
  return db;
}

}  // namespace berth::core::runtime
