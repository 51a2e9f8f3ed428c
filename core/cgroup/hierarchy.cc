#include "core/cgroup/hierarchy.h"

#include "core/base/strings.h"

namespace berth::core::cgroup {

// mountinfo escapes space, tab, newline and backslash as \ooo.
static std::string unescape_octal(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      auto d = [&](size_t k) { return s[i + k] >= '0' && s[i + k] <= '7'; };
      if (d(1) && d(2) && d(3)) {
        out.push_back(
            static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

static std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  for (std::string_view f : split(line, ' '))
    if (!f.empty()) out.push_back(f);
  return out;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  for (std::string_view line : split(text, '\n')) {
    // id parent major:minor root mount-point options [optional...] - fstype source super
    std::vector<std::string_view> f = fields(line);
    if (f.size() < 7) continue;
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 1 >= f.size()) continue;
    MountEntry m;
    m.root = unescape_octal(f[3]);
    m.mount_point = unescape_octal(f[4]);
    m.fstype = std::string(f[dash + 1]);
    if (dash + 3 < f.size())
      for (std::string_view o : split(f[dash + 3], ',')) m.super_options.emplace_back(o);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<ProcCgroup> parse_proc_cgroup(std::string_view text) {
  std::vector<ProcCgroup> out;
  for (std::string_view line : split(text, '\n')) {
    auto id_rest = split_once(line, ':');
    if (!id_rest) continue;
    auto ctl_path = split_once(id_rest->second, ':');
    if (!ctl_path) continue;
    ProcCgroup p;
    if (!ctl_path->first.empty())
      for (std::string_view c : split(ctl_path->first, ',')) p.controllers.emplace_back(c);
    p.path = std::string(ctl_path->second);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> path_components(std::string_view path) {
  std::vector<std::string> out;
  for (std::string_view c : split(path, '/'))
    if (!c.empty()) out.emplace_back(c);
  return out;
}

std::string join_cgroup_path(std::string_view a, std::string_view b) {
  std::string out;
  for (std::string_view part : {a, b})
    for (const std::string& c : path_components(part)) str_append(out, '/', c);
  return out.empty() ? "/" : out;
}

std::string path_below_mount_root(std::string_view cgroup_path, std::string_view mount_root) {
  std::string path = join_cgroup_path(cgroup_path, "");
  std::string root = join_cgroup_path(mount_root, "");
  if (root == "/") return path;
  if (path == root) return "/";
  if (path.starts_with(root) && path[root.size()] == '/') return path.substr(root.size());
  // Outside the mounted subtree (a cgroup namespace shows paths from its
  // own root): take it as it is.
  return path;
}

Result<std::string> containers_parent(std::string_view own, std::string_view parent) {
  for (const std::string& c : path_components(parent))
    if (c == "." || c == "..")
      return fail(Errc::invalid_argument, str_cat("invalid cgroup parent '", parent, "'"));
  if (parent.empty()) return join_cgroup_path(own, "berth");
  if (parent.front() == '/') {
    std::string p = join_cgroup_path(parent, "");
    if (p == "/") return fail(Errc::invalid_argument, "cgroup parent cannot be the hierarchy root");
    return p;
  }
  return join_cgroup_path(own, parent);
}

Result<void> check_cgroup_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 255 && name != "." && name != "..";
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      ok = false;
  if (!ok) return fail(Errc::invalid_argument, str_cat("invalid cgroup name '", name, "'"));
  return {};
}

}  // namespace berth::core::cgroup
