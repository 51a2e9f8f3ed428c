#include "layers/snapshot/diff.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "layers/archive/tar_writer.h"

namespace berth::layers::snapshot {

namespace {

using archive::Entry;
using archive::EntryType;

Result<std::vector<archive::Xattr>> read_xattrs(int dirfd, const std::string& name, bool follow) {
  std::vector<archive::Xattr> out;
  std::string path = str_cat("/proc/self/fd/", dirfd, "/", name);
  char names[16384];
  ssize_t n = follow ? ::listxattr(path.c_str(), names, sizeof names)
                     : ::llistxattr(path.c_str(), names, sizeof names);
  if (n < 0) {
    if (errno == ENOTSUP || errno == ENODATA) return out;
    return sys_fail(errno, "list xattrs of " + name);
  }
  for (ssize_t i = 0; i < n;) {
    std::string key(names + i);
    i += static_cast<ssize_t>(key.size()) + 1;
    if (key.starts_with("trusted.overlay.")) continue;
    char val[65536];
    ssize_t vn = follow ? ::getxattr(path.c_str(), key.c_str(), val, sizeof val)
                        : ::lgetxattr(path.c_str(), key.c_str(), val, sizeof val);
    if (vn < 0) continue;
    out.push_back({key, std::string(val, static_cast<size_t>(vn))});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

bool is_opaque(int dirfd, const std::string& name) {
  std::string path = str_cat("/proc/self/fd/", dirfd, "/", name);
  char v[4];
  ssize_t n = ::lgetxattr(path.c_str(), "trusted.overlay.opaque", v, sizeof v);
  return n == 1 && v[0] == 'y';
}

class Walker {
 public:
  Walker(archive::TarWriter& tw, const TreeOptions& o) : tw_(tw), opts_(o) {}

  Result<void> walk(int dirfd, const std::string& prefix) {
    std::vector<std::string> names;
    {
      int fd = ::dup(dirfd);
      if (fd < 0) return sys_fail(errno, "dup");
      DIR* d = ::fdopendir(fd);
      if (!d) {
        ::close(fd);
        return sys_fail(errno, "open directory " + prefix);
      }
      ::rewinddir(d);
      while (dirent* e = ::readdir(d)) {
        if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
        names.emplace_back(e->d_name);
      }
      ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      std::string rel = prefix.empty() ? name : prefix + "/" + name;
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return sys_fail(errno, "stat " + rel);
      Entry e;
      e.path = rel;
      e.mode = st.st_mode & 07777;
      e.uid = st.st_uid;
      e.gid = st.st_gid;
      e.mtime.sec = st.st_mtim.tv_sec;
      e.mtime.nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
      if (opts_.overlay_whiteouts && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
        e.path = prefix.empty() ? ".wh." + name : prefix + "/.wh." + name;
        e.type = EntryType::regular;
        e.mode = 0600;
        e.size = 0;
        BERTH_TRY(tw_.add(e));
        continue;
      }
      if (!S_ISLNK(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISFIFO(st.st_mode))
        e.xattrs = BERTH_TRY(read_xattrs(dirfd, name, false));
      if (S_ISDIR(st.st_mode)) {
        e.type = EntryType::directory;
        BERTH_TRY(tw_.add(e));
        if (opts_.overlay_whiteouts && is_opaque(dirfd, name)) {
          Entry wo;
          wo.path = rel + "/.wh..wh..opq";
          wo.type = EntryType::regular;
          wo.mode = st.st_mode & 0777;
          wo.uid = st.st_uid;
          wo.gid = st.st_gid;
          wo.mtime = e.mtime;
          BERTH_TRY(tw_.add(wo));
        }
        int sub = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) return sys_fail(errno, "open " + rel);
        unique_fd subfd(sub);
        BERTH_TRY(walk(subfd.get(), rel));
      } else if (S_ISREG(st.st_mode)) {
        if (st.st_nlink > 1) {
          auto key = std::pair{st.st_dev, st.st_ino};
          if (auto it = links_.find(key); it != links_.end()) {
            e.type = EntryType::hardlink;
            e.link_target = it->second;
            BERTH_TRY(tw_.add(e));
            continue;
          }
          links_.emplace(key, rel);
        }
        e.type = EntryType::regular;
        e.size = static_cast<uint64_t>(st.st_size);
        int f = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (f < 0) return sys_fail(errno, "open " + rel);
        unique_fd file(f);
        BERTH_TRY(tw_.add(e));
        uint64_t left = e.size;
        while (left > 0) {
          ssize_t n = ::read(file.get(), buf_, std::min<uint64_t>(sizeof buf_, left));
          if (n < 0) {
            if (errno == EINTR) continue;
            return sys_fail(errno, "read " + rel);
          }
          if (n == 0) return fail(Errc::io, str_cat(rel, " shrank while being archived"));
          BERTH_TRY(tw_.write_data(std::string_view(buf_, static_cast<size_t>(n))));
          left -= static_cast<uint64_t>(n);
        }
      } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t n = ::readlinkat(dirfd, name.c_str(), target, PATH_MAX);
        if (n < 0) return sys_fail(errno, "readlink " + rel);
        e.type = EntryType::symlink;
        e.link_target.assign(target, static_cast<size_t>(n));
        BERTH_TRY(tw_.add(e));
      } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        e.type = S_ISCHR(st.st_mode) ? EntryType::char_device : EntryType::block_device;
        e.devmajor = major(st.st_rdev);
        e.devminor = minor(st.st_rdev);
        BERTH_TRY(tw_.add(e));
      } else if (S_ISFIFO(st.st_mode)) {
        e.type = EntryType::fifo;
        BERTH_TRY(tw_.add(e));
      }
      // Sockets are not archived (as tar and docker).
    }
    return {};
  }

 private:
  archive::TarWriter& tw_;
  TreeOptions opts_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
  char buf_[256 * 1024];
};

}  // namespace

Result<void> write_tree(const std::string& dir, const TarOutput& out, const TreeOptions& opts) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_fail(errno, "open " + dir);
  unique_fd root(fd);
  archive::TarWriter tw(out);
  auto walker = std::make_unique<Walker>(tw, opts);
  BERTH_TRY(walker->walk(root.get(), ""));
  return tw.finish();
}

}  // namespace berth::layers::snapshot
