#include "core/cgroup/dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "core/base/strings.h"
#include "core/cgroup/hierarchy.h"

namespace berth::core::cgroup {

namespace {

constexpr int max_depth = 64;  // cgroup trees are shallow; a bound against loops

std::string child_path(const std::string& dir, std::string_view name) {
  return dir == "/" ? str_cat("/", name) : str_cat(dir, "/", name);
}

}  // namespace

Result<Dir> Dir::open_root(const std::string& path, std::shared_ptr<const FsHooks> hooks) {
  int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_fail(errno, str_cat("open ", path));
  return Dir(unique_fd(fd), path, std::move(hooks));
}

Result<Dir> Dir::open(std::string_view rel) const {
  int cur = fd_.get();
  unique_fd owned;
  std::string path = path_;
  for (const std::string& c : path_components(rel)) {
    if (c == "." || c == "..")
      return fail(Errc::invalid_argument, str_cat("invalid cgroup path '", rel, "'"));
    int fd = ::openat(cur, c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    path = child_path(path, c);
    if (fd < 0) return sys_fail(errno, str_cat("open ", path));
    owned.reset(fd);
    cur = fd;
  }
  if (!owned) {
    int fd = ::openat(fd_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_fail(errno, str_cat("open ", path));
    owned.reset(fd);
  }
  return Dir(std::move(owned), std::move(path), hooks_);
}

Result<Dir> Dir::make(std::string_view name) const {
  std::string n(name);
  std::string path = child_path(path_, name);
  if (::mkdirat(fd_.get(), n.c_str(), 0755) != 0) return sys_fail(errno, str_cat("mkdir ", path));
  if (hooks_ && hooks_->created) hooks_->created(path);
  return open(name);
}

Result<void> Dir::rename(std::string_view from, std::string_view to) const {
  std::string f(from), t(to);
  if (::renameat(fd_.get(), f.c_str(), fd_.get(), t.c_str()) != 0)
    return sys_fail(errno, str_cat("rename ", child_path(path_, from), " to ", t));
  return {};
}

Result<Dir> Dir::make_or_open(std::string_view name, bool* created) const {
  *created = false;
  auto existing = open(name);
  if (existing || existing.error().sys_errno != ENOENT) return existing;
  auto made = make(name);
  if (made) {
    *created = true;
    return made;
  }
  if (made.error().sys_errno != EEXIST) return made;
  return open(name);  // made by someone else meanwhile
}

Result<Dir> Dir::parent() const {
  int fd = ::openat(fd_.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_fail(errno, str_cat("open ", path_, "/.."));
  std::string p = path_;
  size_t slash = p.find_last_of('/');
  p = slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
  return Dir(unique_fd(fd), std::move(p), hooks_);
}

std::string Dir::file_path(std::string_view file) const {
  return child_path(path_, file);
}

Result<unique_fd> Dir::open_file(std::string_view file, int flags) const {
  std::string f(file);
  int fd = ::openat(fd_.get(), f.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_fail(errno, str_cat("open ", file_path(file)));
  return unique_fd(fd);
}

bool Dir::has(std::string_view file) const {
  std::string f(file);
  struct stat st;
  return ::fstatat(fd_.get(), f.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> Dir::read(std::string_view file) const {
  auto fd = open_file(file, O_RDONLY);
  if (!fd) return std::unexpected(std::move(fd.error()));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail(errno, str_cat("read ", file_path(file)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<void> Dir::write(std::string_view file, std::string_view value) const {
  auto what = [&] { return str_cat("write ", file, "=", value, " in ", path_); };
  std::string f(file);
  int raw = ::openat(fd_.get(), f.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
  if (raw < 0) return sys_fail(errno, what());
  unique_fd fd(raw);
  if (hooks_ && hooks_->refuse)
    if (int e = hooks_->refuse(file_path(file), value)) return sys_fail(e, what());
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_fail(errno, what());
  if (static_cast<size_t>(n) != value.size())
    return fail(Errc::io, str_cat(what(), ": short write"));
  if (hooks_ && hooks_->written) hooks_->written(file_path(file), value);
  return {};
}

Result<void> Dir::write_limit(std::string_view file, std::string_view value) const {
  auto r = write(file, value);
  if (!r) {
    int e = r.error().sys_errno;
    if (e == EINVAL || e == EBUSY || e == ERANGE || e == ENOSPC || e == EOVERFLOW)
      r.error().code = Errc::invalid_argument;
  }
  return r;
}

Result<std::vector<std::string>> Dir::subdirs() const {
  int raw = ::openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return sys_fail(errno, str_cat("open ", path_));
  DIR* d = ::fdopendir(raw);
  if (!d) {
    int e = errno;
    ::close(raw);
    return sys_fail(e, str_cat("opendir ", path_));
  }
  std::vector<std::string> out;
  int err = 0;
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (!e) {
      err = errno;
      break;
    }
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      is_dir =
          ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) out.emplace_back(n);
  }
  ::closedir(d);
  if (err) return sys_fail(err, str_cat("readdir ", path_));
  std::sort(out.begin(), out.end());
  return out;
}

Result<void> Dir::remove(std::string_view name, std::chrono::milliseconds busy_timeout) const {
  return remove_at(name, std::chrono::steady_clock::now() + busy_timeout, 0);
}

Result<void> Dir::remove_at(std::string_view name, std::chrono::steady_clock::time_point deadline,
                            int depth) const {
  std::string n(name);
  std::string path = child_path(path_, name);
  if (depth > max_depth) return fail(Errc::invalid_argument, str_cat("rmdir ", path, ": too deep"));
  int raw = ::openat(fd_.get(), n.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT) return {};
    if (errno == ENOTDIR || errno == ELOOP)
      return fail(Errc::invalid_argument, str_cat("rmdir ", path, ": not a directory (refused)"));
    return sys_fail(errno, str_cat("open ", path));
  }
  Dir child(unique_fd(raw), path, hooks_);
  auto subs = child.subdirs();
  if (!subs) return std::unexpected(std::move(subs.error()));
  for (const std::string& s : *subs) BERTH_TRY(child.remove_at(s, deadline, depth + 1));
  if (hooks_ && hooks_->removing) hooks_->removing(path);
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (::unlinkat(fd_.get(), n.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return {};
    int e = errno;
    if (e != EBUSY || std::chrono::steady_clock::now() >= deadline)
      return sys_fail(e, str_cat("rmdir ", path));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

Result<std::vector<pid_t>> Dir::procs(bool recursive) const {
  std::vector<pid_t> out;
  BERTH_TRY(collect_procs(out, recursive, 0));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<void> Dir::collect_procs(std::vector<pid_t>& out, bool recursive, int depth) const {
  std::string text = BERTH_TRY(read("cgroup.procs"));
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    if (line.empty()) continue;
    auto pid = parse_number<pid_t>(line);
    if (!pid) return fail(Errc::corrupt, str_cat("bad pid '", line, "' in ", path_));
    out.push_back(*pid);
  }
  if (!recursive || depth >= max_depth) return {};
  for (const std::string& s : BERTH_TRY(subdirs())) {
    auto child = open(s);
    if (!child) {
      if (child.error().sys_errno == ENOENT) continue;  // removed meanwhile
      return std::unexpected(std::move(child.error()));
    }
    BERTH_TRY(child->collect_procs(out, true, depth + 1));
  }
  return {};
}

std::vector<std::pair<std::string, uint64_t>> keyed_values(std::string_view text) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (std::string_view line : split(text, '\n')) {
    auto kv = split_once(trim(line), ' ');
    if (!kv) continue;
    if (auto v = parse_number<uint64_t>(trim(kv->second)))
      out.emplace_back(std::string(kv->first), *v);
  }
  return out;
}

std::optional<uint64_t> keyed_value(std::string_view text, std::string_view key) {
  for (std::string_view line : split(text, '\n')) {
    auto kv = split_once(trim(line), ' ');
    if (kv && kv->first == key) return parse_number<uint64_t>(trim(kv->second));
  }
  return std::nullopt;
}

Result<std::optional<uint64_t>> read_number_or_max(const Dir& dir, std::string_view file) {
  std::string text = BERTH_TRY(dir.read(file));
  std::string_view v = trim(text);
  if (v == "max") return std::optional<uint64_t>();
  auto n = parse_number<uint64_t>(v);
  if (!n) return fail(Errc::corrupt, str_cat("bad number '", v, "' in ", dir.file_path(file)));
  return std::optional<uint64_t>(*n);
}

Result<uint64_t> read_number(const Dir& dir, std::string_view file) {
  auto n = BERTH_TRY(read_number_or_max(dir, file));
  if (!n) return fail(Errc::corrupt, str_cat("unexpected 'max' in ", dir.file_path(file)));
  return *n;
}

}  // namespace berth::core::cgroup
