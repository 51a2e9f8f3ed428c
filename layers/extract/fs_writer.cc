#include "layers/extract/fs_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "layers/archive/whiteout.h"

namespace berth::layers::extract {

using archive::Entry;
using archive::EntryType;
using archive::Timestamp;

namespace {

constexpr uint64_t kResolveFast = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
constexpr uint64_t kResolveInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

int sys_openat2(int dfd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dfd, path, &how, sizeof how));
}

timespec to_timespec(const Timestamp& t) {
  timespec ts;
  ts.tv_sec = t.sec;
  ts.tv_nsec = t.nsec;
  return ts;
}

std::string_view parent_of(std::string_view p) {
  return archive::dir_name(p);
}
std::string_view base_of(std::string_view p) {
  return archive::base_name(p);
}

}  // namespace

Result<std::string> clean_member_path(std::string_view path) {
  std::vector<std::string_view> parts;
  for (std::string_view c : split(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (parts.empty())
        return fail(Errc::invalid_argument, str_cat("path ", path, " escapes the layer root"));
      parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out.push_back('/');
    out.append(parts[i]);
  }
  return out;
}

struct FsWriter::Impl {
  enum class Kind : uint8_t { dir, file, symlink, other, whiteout };
  struct Node {
    Kind kind;
    bool clean;  // reachable from the root through real directories only
  };
  // A member whose I/O is queued in the ring; its metadata follows the batch.
  struct Pending {
    std::string path;
    open_how how{};
    uint32_t uid = 0, gid = 0, mode = 0;
    Timestamp mtime;
    std::vector<archive::Xattr> xattrs;
    int slot = -1;
    bool closed = false;  // the close is queued: metadata can follow
    uint64_t expected = 0, written = 0;
    int error = 0;
    const char* failed_op = nullptr;
  };
  struct DirMeta {
    std::string path;
    uint32_t mode = 0755, uid = 0, gid = 0;
    Timestamp mtime;
    std::vector<archive::Xattr> xattrs;
  };
  // Where a member goes when its parents are not all clean directories.
  struct Parent {
    bool clean = true;
    unique_fd fd;  // resolved parent when !clean
  };

  WriterOptions opts;
  unique_fd root;
  bool is_root_user = ::geteuid() == 0;
  mode_t saved_umask = 0;
  io_uring ring{};
  bool ring_ok = false;
  unsigned sq_size = 0;

  std::unordered_map<std::string, Node> model;
  std::string last_clean_parent = "\x01";  // no real path equals this
  std::vector<DirMeta> dirs;
  std::unordered_map<std::string, size_t> dir_index;

  // The member being written.
  std::string cur_path;
  Entry cur;  // metadata copy for the sync path
  bool in_entry = false;
  bool skip_data = false;
  Pending* cur_pending = nullptr;  // uring path
  unique_fd cur_fd;                // sync path
  uint64_t cur_offset = 0;

  // The batch in flight.
  std::vector<std::unique_ptr<Pending>> batch;
  std::deque<std::string> copies;
  std::vector<int> free_slots;
  unsigned queued = 0;  // SQEs queued since the last flush
  const char* win_begin = nullptr;
  const char* win_end = nullptr;

  WriterStats stats;

  ~Impl() {
    if (ring_ok) io_uring_queue_exit(&ring);
    if (saved_umask != 0) ::umask(saved_umask);
  }

  Error entry_error(std::string_view path, Error e) {
    return std::move(e).context(str_cat("extract ", path.empty() ? "." : path));
  }

  // --- model ---------------------------------------------------------------

  Node* find(std::string_view p) {
    auto it = model.find(std::string(p));
    return it == model.end() ? nullptr : &it->second;
  }

  // Makes sure the parents of path exist; tells how to reach them.
  Result<Parent> parents(const std::string& path) {
    Parent out;
    std::string_view parent = parent_of(path);
    if (parent.empty() || parent == last_clean_parent) return out;
    size_t pos = 0;
    bool clean = true;
    while (pos <= parent.size()) {
      size_t next = parent.find('/', pos);
      if (next == std::string_view::npos) next = parent.size();
      std::string prefix(parent.substr(0, next));
      Node* n = find(prefix);
      if (!n) {
        if (!clean) break;
        // An implicit directory, as tar makes for members listed before (or
        // without) their directory.
        if (::mkdirat(root.get(), prefix.c_str(), 0755) != 0 && errno != EEXIST)
          return sys_fail(errno, "create directory " + prefix);
        model.emplace(prefix, Node{Kind::dir, true});
      } else if (n->kind == Kind::symlink) {
        clean = false;
        break;
      } else if (n->kind != Kind::dir) {
        return fail(Errc::invalid_argument, str_cat(prefix, " is not a directory"));
      } else if (!n->clean) {
        clean = false;
        break;
      }
      pos = next + 1;
    }
    if (clean) {
      last_clean_parent = std::string(parent);
      return out;
    }
    // Slow path: resolve inside the root, creating what is missing.
    out.clean = false;
    out.fd = BERTH_TRY(resolve_dir(std::string(parent)));
    return out;
  }

  Result<unique_fd> resolve_dir(const std::string& dir) {
    int fd =
        sys_openat2(root.get(), dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolveInRoot);
    if (fd >= 0) return unique_fd(fd);
    if (errno != ENOENT) return sys_fail(errno, "resolve " + dir);
    std::string_view up = parent_of(dir);
    unique_fd pfd;
    if (up.empty()) {
      pfd.reset(::dup(root.get()));
    } else {
      pfd = BERTH_TRY(resolve_dir(std::string(up)));
    }
    std::string name(base_of(dir));
    if (::mkdirat(pfd.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
      return sys_fail(errno, "create directory " + dir);
    fd = sys_openat2(pfd.get(), name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolveFast);
    if (fd < 0) return sys_fail(errno, "resolve " + dir);
    model.emplace(dir, Node{Kind::dir, false});
    return unique_fd(fd);
  }

  // The fd and name to use for path given how its parent is reached.
  static std::pair<int, const char*> at(const Parent& p, int root_fd, const std::string& path) {
    if (p.clean) return {root_fd, path.c_str()};
    return {p.fd.get(), path.c_str() + (path.size() - base_of(path).size())};
  }

  Result<void> remove_tree_at(int dfd, const char* name) {
    if (::unlinkat(dfd, name, 0) == 0) return {};
    if (errno == ENOENT) return {};
    if (errno != EISDIR && errno != EPERM) return sys_fail(errno, str_cat("remove ", name));
    int fd = ::openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sys_fail(errno, str_cat("open ", name));
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      return sys_fail(errno, "opendir");
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    for (const auto& n : names) {
      auto r = remove_tree_at(::dirfd(d), n.c_str());
      if (!r) {
        ::closedir(d);
        return r;
      }
    }
    ::closedir(d);
    if (::unlinkat(dfd, name, AT_REMOVEDIR) != 0) return sys_fail(errno, str_cat("remove ", name));
    return {};
  }

  // A later member replaces an earlier one of the same path (a directory
  // over a directory merges instead).
  Result<void> replace_existing(const std::string& path, const Parent& p, bool new_is_dir) {
    auto it = model.find(path);
    if (it == model.end()) return {};
    if (new_is_dir && it->second.kind == Kind::dir) return {};
    BERTH_TRY(flush());
    auto [dfd, name] = at(p, root.get(), path);
    BERTH_TRY(remove_tree_at(dfd, name));
    bool was_dir = it->second.kind == Kind::dir;
    model.erase(it);
    if (was_dir) {
      std::string prefix = path + "/";
      std::erase_if(model, [&](const auto& kv) { return kv.first.starts_with(prefix); });
      last_clean_parent = "\x01";
    }
    return {};
  }

  // --- metadata --------------------------------------------------------------

  Result<void> set_xattrs_fd(int fd, const std::vector<archive::Xattr>& xs,
                             const std::string& path) {
    for (const auto& x : xs)
      if (::fsetxattr(fd, x.name.c_str(), x.value.data(), x.value.size(), 0) != 0)
        return sys_fail(errno, str_cat("set xattr ", x.name, " on ", path));
    return {};
  }

  // Owner, mode (after chown, which clears setuid bits), xattrs, times — in
  // the order tar applies them.
  Result<void> apply_meta(int dfd, const char* name, const std::string& path, bool is_link,
                          uint32_t uid, uint32_t gid, uint32_t mode, bool chmod_needed,
                          const Timestamp& mtime, const std::vector<archive::Xattr>& xattrs) {
    if (opts.apply_ownership && is_root_user && (uid != 0 || gid != 0))
      if (::fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
        return sys_fail(errno, "chown " + path);
    if (chmod_needed && !is_link)
      if (::fchmodat(dfd, name, mode & 07777, 0) != 0) return sys_fail(errno, "chmod " + path);
    if (!xattrs.empty() && !is_link) {
      int fd = sys_openat2(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0, kResolveFast);
      if (fd < 0) return sys_fail(errno, "open " + path);
      unique_fd f(fd);
      BERTH_TRY(set_xattrs_fd(f.get(), xattrs, path));
    }
    timespec ts[2] = {to_timespec(mtime), to_timespec(mtime)};
    if (::utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
      return sys_fail(errno, "set times on " + path);
    return {};
  }

  static bool needs_chmod_after_chown(uint32_t mode) { return (mode & 07000) != 0; }

  // --- the ring --------------------------------------------------------------

  Result<void> init_ring() {
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    unsigned entries = std::max(256u, opts.batch_files * 4);
    int rc = io_uring_queue_init_params(entries, &ring, &p);
    if (rc == -EINVAL) {
      p = io_uring_params{};
      rc = io_uring_queue_init_params(entries, &ring, &p);
    }
    if (rc < 0) return sys_fail(-rc, "io_uring setup");
    ring_ok = true;
    sq_size = p.sq_entries;
    rc = io_uring_register_files_sparse(&ring, opts.batch_files);
    if (rc < 0) return sys_fail(-rc, "io_uring register files");
    for (int i = static_cast<int>(opts.batch_files) - 1; i >= 0; --i) free_slots.push_back(i);
    return {};
  }

  io_uring_sqe* sqe(Pending* p, uint64_t op) {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    io_uring_sqe_set_data64(s, reinterpret_cast<uint64_t>(p) | op);
    ++queued;
    return s;
  }

  // Room for n more SQEs (and a file slot when slot is true), flushing if not.
  Result<void> room(unsigned n, bool slot) {
    if (io_uring_sq_space_left(&ring) < n || (slot && free_slots.empty())) BERTH_TRY(flush());
    return {};
  }

  Result<void> flush() {
    if (queued > 0) {
      ++stats.batches;
      unsigned want = queued;
      unsigned seen = 0;
      int rc = io_uring_submit_and_wait(&ring, want);
      if (rc < 0 && rc != -EINTR) return sys_fail(-rc, "io_uring submit");
      while (seen < want) {
        io_uring_cqe* cqe = nullptr;
        rc = io_uring_wait_cqe(&ring, &cqe);
        if (rc == -EINTR) continue;
        if (rc < 0) return sys_fail(-rc, "io_uring wait");
        uint64_t data = io_uring_cqe_get_data64(cqe);
        auto* p = reinterpret_cast<Pending*>(data & ~uint64_t{7});
        uint64_t op = data & 7;
        int res = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        ++seen;
        if (res < 0) {
          if (p->error == 0 || (p->error == ECANCELED && res != -ECANCELED)) {
            p->error = -res;
            p->failed_op = op == 1 ? "create" : op == 2 ? "write" : "close";
          }
        } else if (op == 2) {
          p->written += static_cast<uint64_t>(res);
        }
      }
      queued = 0;
    }
    copies.clear();
    // Metadata for the members whose files are closed; carry the open one.
    std::vector<std::unique_ptr<Pending>> keep;
    std::optional<Error> err;
    for (auto& up : batch) {
      Pending* p = up.get();
      if (!p->closed) {
        keep.push_back(std::move(up));
        continue;
      }
      if (p->slot >= 0) free_slots.push_back(p->slot);
      if (err) continue;
      if (p->error) {
        err = entry_error(p->path, sys_error(p->error, p->failed_op));
        continue;
      }
      if (p->written != p->expected) {
        err = entry_error(p->path, Error{Errc::io, ENOSPC,
                                         str_cat("short write (", p->written, " of ", p->expected,
                                                 " bytes): is the disk full?")});
        continue;
      }
      auto r = apply_meta(root.get(), p->path.c_str(), p->path, false, p->uid, p->gid, p->mode,
                          needs_chmod_after_chown(p->mode), p->mtime, p->xattrs);
      if (!r) err = entry_error(p->path, r.error());
    }
    batch = std::move(keep);
    if (err) return std::unexpected(*err);
    return {};
  }

  // --- members ----------------------------------------------------------------

  void record_dir(const std::string& path, const Entry& e) {
    DirMeta m{path, e.mode, e.uid, e.gid, e.mtime, e.xattrs};
    auto it = dir_index.find(path);
    if (it != dir_index.end()) {
      dirs[it->second] = std::move(m);
    } else {
      dir_index.emplace(path, dirs.size());
      dirs.push_back(std::move(m));
    }
  }

  Result<void> whiteout(const std::string& path, const Entry& e, archive::WhiteoutKind kind) {
    if (kind == archive::WhiteoutKind::invalid)
      return fail(Errc::invalid_argument, "invalid whiteout name \".wh.\"");
    std::string dir(parent_of(path));
    if (kind == archive::WhiteoutKind::opaque) {
      // parents() makes the directory itself (it is the marker's parent).
      Parent p = BERTH_TRY(parents(path));
      int fd = p.clean ? sys_openat2(root.get(), dir.empty() ? "." : dir.c_str(),
                                     O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, kResolveFast)
                       : ::openat(p.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return sys_fail(errno, "open " + dir);
      unique_fd f(fd);
      if (::fsetxattr(f.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
        return sys_fail(errno, "mark " + (dir.empty() ? std::string(".") : dir) + " opaque");
      return {};
    }
    std::string target = dir.empty() ? std::string(archive::whiteout_target_name(path))
                                     : str_cat(dir, "/", archive::whiteout_target_name(path));
    Parent p = BERTH_TRY(parents(target));
    BERTH_TRY(replace_existing(target, p, false));
    auto [dfd, name] = at(p, root.get(), target);
    if (::mknodat(dfd, name, S_IFCHR, makedev(0, 0)) != 0)
      return sys_fail(errno, "create whiteout " + target);
    if (opts.apply_ownership && is_root_user && (e.uid != 0 || e.gid != 0))
      if (::fchownat(dfd, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0)
        return sys_fail(errno, "chown " + target);
    model[target] = Node{Kind::whiteout, p.clean};
    return {};
  }

  Result<void> start_file(const std::string& path, const Entry& e) {
    Parent p = BERTH_TRY(parents(path));
    BERTH_TRY(replace_existing(path, p, false));
    model[path] = Node{Kind::file, p.clean};
    ++stats.files;
    if (ring_ok && p.clean) {
      BERTH_TRY(room(3, true));
      auto up = std::make_unique<Pending>();
      Pending* pd = up.get();
      pd->path = path;
      pd->uid = e.uid;
      pd->gid = e.gid;
      pd->mode = e.mode;
      pd->mtime = e.mtime;
      pd->xattrs = e.xattrs;
      pd->expected = e.size;
      pd->slot = free_slots.back();
      free_slots.pop_back();
      pd->how.flags =
          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;  // no O_CLOEXEC: direct slots refuse it
      pd->how.mode = e.mode & 07777;
      pd->how.resolve = kResolveFast;
      io_uring_sqe* s = sqe(pd, 1);
      io_uring_prep_openat2_direct(s, root.get(), pd->path.c_str(), &pd->how,
                                   static_cast<unsigned>(pd->slot));
      s->flags |= IOSQE_IO_LINK;
      batch.push_back(std::move(up));
      cur_pending = pd;
      return {};
    }
    auto [dfd, name] = at(p, root.get(), path);
    int fd = sys_openat2(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         e.mode & 07777, kResolveFast);
    if (fd < 0) return sys_fail(errno, "create");
    cur_fd.reset(fd);
    return {};
  }

  Result<void> write_data(std::string_view data) {
    stats.bytes += data.size();
    if (cur_pending) {
      BERTH_TRY(room(2, false));
      const char* src = data.data();
      if (!(src >= win_begin && src + data.size() <= win_end)) {
        copies.emplace_back(data);
        src = copies.back().data();
      }
      io_uring_sqe* s = sqe(cur_pending, 2);
      io_uring_prep_write(s, cur_pending->slot, src, static_cast<unsigned>(data.size()),
                          cur_offset);
      s->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK;
      cur_offset += data.size();
      return {};
    }
    while (!data.empty()) {
      ssize_t n = ::write(cur_fd.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_fail(errno, "write");
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  Result<void> end_file() {
    if (cur_pending) {
      BERTH_TRY(room(1, false));
      io_uring_sqe* s = sqe(cur_pending, 3);
      io_uring_prep_close_direct(s, static_cast<unsigned>(cur_pending->slot));
      cur_pending->closed = true;
      cur_pending = nullptr;
      return {};
    }
    int fd = cur_fd.get();
    if (opts.apply_ownership && is_root_user && (cur.uid != 0 || cur.gid != 0))
      if (::fchown(fd, cur.uid, cur.gid) != 0) return sys_fail(errno, "chown");
    if (needs_chmod_after_chown(cur.mode))
      if (::fchmod(fd, cur.mode & 07777) != 0) return sys_fail(errno, "chmod");
    BERTH_TRY(set_xattrs_fd(fd, cur.xattrs, cur_path));
    timespec ts[2] = {to_timespec(cur.mtime), to_timespec(cur.mtime)};
    if (::futimens(fd, ts) != 0) return sys_fail(errno, "set times");
    if (::close(cur_fd.release()) != 0) return sys_fail(errno, "close");
    return {};
  }

  Result<void> entry(const Entry& e) {
    cur_path = BERTH_TRY(clean_member_path(e.path));
    const std::string& path = cur_path;
    if (opts.overlay_whiteouts && e.type != EntryType::directory) {
      auto kind = archive::whiteout_kind(path);
      if (kind != archive::WhiteoutKind::none) {
        skip_data = true;
        return whiteout(path, e, kind);
      }
    }
    switch (e.type) {
      case EntryType::directory: {
        if (path.empty()) {
          record_dir(path, e);
          return {};
        }
        Parent p = BERTH_TRY(parents(path));
        BERTH_TRY(replace_existing(path, p, true));
        if (!find(path)) {
          auto [dfd, name] = at(p, root.get(), path);
          if (::mkdirat(dfd, name, 0700) != 0 && errno != EEXIST)
            return sys_fail(errno, "create directory");
          model[path] = Node{Kind::dir, p.clean};
        }
        if (!p.clean) {
          // Resolved through a link: apply its metadata now, by fd.
          auto [dfd, name] = at(p, root.get(), path);
          BERTH_TRY(
              apply_meta(dfd, name, path, false, e.uid, e.gid, e.mode, true, e.mtime, e.xattrs));
        } else {
          record_dir(path, e);
        }
        return {};
      }
      case EntryType::regular:
        if (path.empty())
          return fail(Errc::invalid_argument, "a file cannot replace the layer root");
        cur_offset = 0;
        BERTH_TRY(start_file(path, e));
        if (!cur_pending) cur = e;  // the sync path applies metadata at the end
        return {};
      case EntryType::symlink: {
        if (path.empty())
          return fail(Errc::invalid_argument, "a link cannot replace the layer root");
        Parent p = BERTH_TRY(parents(path));
        BERTH_TRY(replace_existing(path, p, false));
        auto [dfd, name] = at(p, root.get(), path);
        if (::symlinkat(e.link_target.c_str(), dfd, name) != 0)
          return sys_fail(errno, "create symlink");
        model[path] = Node{Kind::symlink, p.clean};
        return apply_meta(dfd, name, path, true, e.uid, e.gid, e.mode, false, e.mtime, {});
      }
      case EntryType::hardlink: {
        if (path.empty())
          return fail(Errc::invalid_argument, "a link cannot replace the layer root");
        std::string target = BERTH_TRY(clean_member_path(e.link_target));
        BERTH_TRY(flush());
        Node* t = find(target);
        if (!t || t->kind == Kind::dir || t->kind == Kind::whiteout || !t->clean)
          return fail(Errc::invalid_argument,
                      str_cat("hard link target ", e.link_target,
                              " is not an earlier file of this layer reachable without symlinks"));
        for (std::string_view up = parent_of(target); !up.empty(); up = parent_of(up)) {
          Node* n = find(up);
          if (!n || n->kind != Kind::dir || !n->clean)
            return fail(Errc::invalid_argument, str_cat("hard link target ", e.link_target,
                                                        " is not reachable without symlinks"));
        }
        Kind kind = t->kind;
        Parent p = BERTH_TRY(parents(path));
        if (target == path) return {};
        BERTH_TRY(replace_existing(path, p, false));
        auto [dfd, name] = at(p, root.get(), path);
        if (::linkat(root.get(), target.c_str(), dfd, name, 0) != 0)
          return sys_fail(errno, "create hard link");
        model[path] = Node{kind, p.clean};
        return {};
      }
      case EntryType::char_device:
      case EntryType::block_device:
      case EntryType::fifo: {
        if (path.empty())
          return fail(Errc::invalid_argument, "a device cannot replace the layer root");
        Parent p = BERTH_TRY(parents(path));
        BERTH_TRY(replace_existing(path, p, false));
        auto [dfd, name] = at(p, root.get(), path);
        mode_t type = e.type == EntryType::fifo          ? S_IFIFO
                      : e.type == EntryType::char_device ? S_IFCHR
                                                         : S_IFBLK;
        if (::mknodat(dfd, name, type | (e.mode & 07777), makedev(e.devmajor, e.devminor)) != 0)
          return sys_fail(errno, "create device node");
        model[path] = Node{Kind::other, p.clean};
        return apply_meta(dfd, name, path, false, e.uid, e.gid, e.mode,
                          needs_chmod_after_chown(e.mode), e.mtime, e.xattrs);
      }
    }
    return fail(Errc::invalid_argument, "unknown member type");
  }

  Result<void> finish() {
    BERTH_TRY(flush());
    // Deepest first: a parent's time must be set after its children change it.
    std::vector<size_t> order(dirs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      auto depth = [&](const std::string& s) {
        return std::count(s.begin(), s.end(), '/') + !s.empty();
      };
      return depth(dirs[a].path) > depth(dirs[b].path);
    });
    for (size_t i : order) {
      const DirMeta& d = dirs[i];
      const char* name = d.path.empty() ? "." : d.path.c_str();
      auto r = apply_meta(root.get(), name, d.path, false, d.uid, d.gid, d.mode, true, d.mtime,
                          d.xattrs);
      if (!r) return std::unexpected(entry_error(d.path, r.error()));
    }
    return {};
  }
};

FsWriter::FsWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FsWriter::~FsWriter() = default;

Result<std::unique_ptr<FsWriter>> FsWriter::create(const std::string& root,
                                                   const WriterOptions& opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  if (impl->opts.batch_files == 0) impl->opts.batch_files = 1;
  int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_fail(errno, "open layer root " + root);
  impl->root.reset(fd);
  // Modes must come out as the archive says: this thread gets its own fs
  // context (cwd, root, umask) and a zero umask. io_uring workers created
  // for this thread's ring share it.
  if (::unshare(CLONE_FS) != 0) return sys_fail(errno, "unshare(CLONE_FS)");
  impl->saved_umask = ::umask(0);
  if (opts.use_uring) {
    auto r = impl->init_ring();
    if (!r) {
      // io_uring may be disabled on this host: write synchronously.
      if (impl->ring_ok) io_uring_queue_exit(&impl->ring);
      impl->ring_ok = false;
    }
  }
  impl->model.reserve(4096);
  return std::unique_ptr<FsWriter>(new FsWriter(std::move(impl)));
}

Result<void> FsWriter::on_entry(const Entry& e) {
  Impl& m = *impl_;
  ++m.stats.entries;
  m.in_entry = true;
  m.skip_data = false;
  auto r = m.entry(e);
  if (!r)
    return std::unexpected(m.entry_error(m.cur_path.empty() ? e.path : m.cur_path, r.error()));
  return {};
}

Result<void> FsWriter::on_data(std::string_view data) {
  Impl& m = *impl_;
  if (m.skip_data || (!m.cur_pending && !m.cur_fd)) return {};
  auto r = m.write_data(data);
  if (!r) return std::unexpected(m.entry_error(m.cur_path, r.error()));
  return {};
}

Result<void> FsWriter::on_entry_end() {
  Impl& m = *impl_;
  m.in_entry = false;
  if (m.skip_data || (!m.cur_pending && !m.cur_fd)) return {};
  auto r = m.end_file();
  if (!r) return std::unexpected(m.entry_error(m.cur_path, r.error()));
  return {};
}

void FsWriter::set_input_window(const char* begin, const char* end) {
  impl_->win_begin = begin;
  impl_->win_end = end;
}

Result<void> FsWriter::flush() {
  return impl_->flush();
}
Result<void> FsWriter::finish() {
  return impl_->finish();
}
const WriterStats& FsWriter::stats() const {
  return impl_->stats;
}

}  // namespace berth::layers::extract
