// Where the cgroup hierarchies are and where this process sits in them:
// parsers of /proc/self/mountinfo and /proc/self/cgroup, and the path
// arithmetic of the containers' parent. Pure functions over text;
// thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::core::cgroup {

struct MountEntry {
  std::string root;                        // the mounted subtree of the file system ("/")
  std::string mount_point;                 // absolute, unescaped
  std::string fstype;                      // "cgroup", "cgroup2", "tmpfs"...
  std::vector<std::string> super_options;  // "rw", "memory", "name=systemd"...
};

std::vector<MountEntry> parse_mountinfo(std::string_view text);

// One line of /proc/PID/cgroup: "4:memory:/a/b", "0::/a".
struct ProcCgroup {
  std::vector<std::string> controllers;  // empty for the v2 line
  std::string path;
};

std::vector<ProcCgroup> parse_proc_cgroup(std::string_view text);

// The path of the process's cgroup inside the mounted subtree (a mount of
// /docker/x shows the process at /docker/x/y as /y).
std::string path_below_mount_root(std::string_view cgroup_path, std::string_view mount_root);

// Joins and normalizes cgroup paths: "/a//b/" + "c" -> "/a/b/c"; "" -> "/".
std::string join_cgroup_path(std::string_view a, std::string_view b);

// The containers' parent from the hierarchy root: "" -> own/berth,
// "/x/y" -> /x/y, "x/y" -> own/x/y. Refuses ".." and "." components.
Result<std::string> containers_parent(std::string_view own, std::string_view parent);

// A container cgroup name: [A-Za-z0-9_.-]+, not "." or "..", <= 255 bytes.
Result<void> check_cgroup_name(std::string_view name);

// The components of an absolute cgroup path ("/a/b" -> {"a", "b"}).
std::vector<std::string> path_components(std::string_view path);

}  // namespace berth::core::cgroup
