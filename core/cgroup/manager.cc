// Manager::detect: which driver, wired in one place.
#include "core/cgroup/manager.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/cgroup/hierarchy.h"
#include "core/cgroup/v1/manager.h"
#include "core/cgroup/v2/manager.h"

namespace berth::core::cgroup {

static Result<std::string> read_text(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_fail(errno, str_cat("open ", path));
  unique_fd f(fd);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_fail(errno, str_cat("read ", path));
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

Result<std::unique_ptr<Manager>> Manager::detect(ManagerOptions opts) {
  std::string mountinfo = BERTH_TRY(read_text(opts.mountinfo));
  std::string self = BERTH_TRY(read_text(opts.self_cgroup));
  std::string root = join_cgroup_path(opts.cgroup_root, "");

  auto unified = v2::find_unified(mountinfo, self, root);
  if (unified && join_cgroup_path(unified->mount_point, "") == root) {
    auto controllers = read_text(str_cat(unified->mount_point, "/cgroup.controllers"));
    if (controllers && !trim(*controllers).empty()) {
      log::debug("cgroup: v2 at ", unified->mount_point, ", daemon in ", unified->own);
      return v2::make_manager(std::move(*unified), std::move(opts));
    }
  }
  auto hierarchies = v1::find_hierarchies(mountinfo, self, root);
  if (!hierarchies.empty()) {
    for (const auto& h : hierarchies)
      log::debug("cgroup: v1 ", join(h.controllers, ","), " at ", h.mount_point, ", daemon in ",
                 h.own);
    return v1::make_manager(std::move(hierarchies), std::move(opts));
  }
  if (unified) {
    log::warn("cgroup: v2 at ", unified->mount_point,
              " offers no controllers: containers cannot be limited");
    return v2::make_manager(std::move(*unified), std::move(opts));
  }
  return fail(Errc::not_found, str_cat("no cgroup hierarchy mounted at or below ", root));
}

}  // namespace berth::core::cgroup
