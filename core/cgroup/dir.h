// Dir: one open cgroup directory and the file operations both drivers do in
// it. Everything below a hierarchy's mount point is reached through fds
// (openat with O_NOFOLLOW, component by component), so a symlink planted in
// a cgroup tree is never followed, neither to write nor to rmdir.
//
// Errors name the file and the value: "write memory.limit_in_bytes=33554432
// in /sys/fs/cgroup/memory/x: Device or resource busy".
// All calls block (cgroupfs). Move-only value; thread-compatible.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/cgroup/manager.h"

namespace berth::core::cgroup {

class Dir {
 public:
  Dir() = default;

  // Opens a hierarchy's mount point (a path from mountinfo or the options).
  static Result<Dir> open_root(const std::string& path, std::shared_ptr<const FsHooks> hooks);

  // A descendant by relative cgroup path ("a/b"; "" or "/" is this one).
  Result<Dir> open(std::string_view rel) const;
  // mkdir name (Errc::conflict when it exists), then open it.
  Result<Dir> make(std::string_view name) const;
  // The existing child, or a new one (*created says which).
  Result<Dir> make_or_open(std::string_view name, bool* created) const;
  // The parent directory ("..": no path walk involved).
  Result<Dir> parent() const;
  // Renames the child directory `from` to `to` (cgroup v1 allows a rename
  // within the same parent).
  Result<void> rename(std::string_view from, std::string_view to) const;

  Result<std::string> read(std::string_view file) const;
  // One write(2) of the whole value (O_WRONLY|O_TRUNC, as the kernel wants).
  Result<void> write(std::string_view file, std::string_view value) const;
  // As write(), but a value the kernel refuses (EINVAL, EBUSY, ERANGE,
  // ENOSPC) is Errc::invalid_argument.
  Result<void> write_limit(std::string_view file, std::string_view value) const;
  bool has(std::string_view file) const;
  Result<unique_fd> open_file(std::string_view file, int flags) const;

  // Names of the child directories.
  Result<std::vector<std::string>> subdirs() const;
  // Removes the child directory `name` and its descendants, deepest first,
  // retrying EBUSY until busy_timeout has passed. Missing is success; a
  // symlink or a file is refused.
  Result<void> remove(std::string_view name, std::chrono::milliseconds busy_timeout) const;
  // Pids in cgroup.procs here, and in the descendants when recursive.
  Result<std::vector<pid_t>> procs(bool recursive) const;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  std::string file_path(std::string_view file) const;
  const std::shared_ptr<const FsHooks>& hooks() const { return hooks_; }
  explicit operator bool() const { return static_cast<bool>(fd_); }

 private:
  Dir(unique_fd fd, std::string path, std::shared_ptr<const FsHooks> hooks)
      : fd_(std::move(fd)), path_(std::move(path)), hooks_(std::move(hooks)) {}
  Result<void> remove_at(std::string_view name, std::chrono::steady_clock::time_point deadline,
                         int depth) const;
  Result<void> collect_procs(std::vector<pid_t>& out, bool recursive, int depth) const;

  unique_fd fd_;  // O_PATH|O_DIRECTORY
  std::string path_;
  std::shared_ptr<const FsHooks> hooks_;
};

// "key value" lines (memory.stat, cpu.stat, memory.events, cgroup.events,
// memory.oom_control): the value of key, nullopt when absent or not a number.
std::optional<uint64_t> keyed_value(std::string_view text, std::string_view key);
std::vector<std::pair<std::string, uint64_t>> keyed_values(std::string_view text);
// A file holding one number, or "max" (-> nullopt).
Result<std::optional<uint64_t>> read_number_or_max(const Dir& dir, std::string_view file);
Result<uint64_t> read_number(const Dir& dir, std::string_view file);

}  // namespace berth::core::cgroup
