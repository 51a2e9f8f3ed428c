#include "core/cgroup/v2/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>

#include <algorithm>
#include <thread>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/cgroup/v2/device_filter.h"

namespace berth::core::cgroup::v2 {

V2Cgroup::V2Cgroup(std::string name, Dir dir, std::string path, const ManagerOptions& opts)
    : name_(std::move(name)),
      dir_(std::move(dir)),
      path_(std::move(path)),
      freeze_timeout_(opts.freeze_timeout),
      busy_timeout_(opts.busy_timeout) {}

Result<void> V2Cgroup::need(std::string_view controller, std::string_view for_what) const {
  std::string text = BERTH_TRY(dir_.read("cgroup.controllers"));
  for (std::string_view c : split(trim(text), ' '))
    if (c == controller) return {};
  return fail(Errc::invalid_argument,
              str_cat(for_what, " needs the ", controller, " controller, which is not enabled in ",
                      dir_.path(), " (cgroup.controllers: '", trim(text), "')"));
}

Result<std::vector<unique_fd>> V2Cgroup::procs_fds() {
  std::vector<unique_fd> out;
  out.push_back(BERTH_TRY(dir_.open_file("cgroup.procs", O_WRONLY)));
  return out;
}

Result<unique_fd> V2Cgroup::clone_dir_fd() {
  return dir_.open_file(".", O_PATH | O_DIRECTORY);
}

Result<void> V2Cgroup::init_devices(const std::vector<DeviceRule>& extra) {
  auto prog = compile_device_filter(DeviceRuleSet::from(container_device_rules(extra)));
  // BPF_PROG_ATTACH does not take O_PATH fds.
  unique_fd fd = BERTH_TRY(dir_.open_file(".", O_RDONLY | O_DIRECTORY));
  return with_context(load_and_attach_device_filter(fd.get(), prog), dir_.path());
}

Result<void> V2Cgroup::wait_frozen(bool want) {
  auto deadline = std::chrono::steady_clock::now() + freeze_timeout_;
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    std::string events = BERTH_TRY(dir_.read("cgroup.events"));
    if (keyed_value(events, "frozen") == (want ? 1u : 0u)) return {};
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(Errc::timeout, str_cat(want ? "freeze " : "thaw ", dir_.path(),
                                         ": cgroup.events still says frozen ", want ? 0 : 1,
                                         " after ", freeze_timeout_.count(), " ms"));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
}

Result<void> V2Cgroup::freeze() {
  BERTH_TRY(dir_.write("cgroup.freeze", "1"));
  auto r = wait_frozen(true);
  if (!r) {
    if (auto t = thaw(); !t) log::warn("cgroup: thaw after failed freeze: ", t.error().message);
  }
  return r;
}

Result<void> V2Cgroup::thaw() {
  BERTH_TRY(dir_.write("cgroup.freeze", "0"));
  return wait_frozen(false);
}

Result<uint64_t> V2Cgroup::oom_kill_count() {
  BERTH_TRY(need("memory", "an OOM count"));
  // memory.events counts this cgroup and its descendants.
  std::string text = BERTH_TRY(dir_.read("memory.events"));
  return keyed_value(text, "oom_kill").value_or(0);
}

Result<unique_fd> V2Cgroup::oom_event_fd() {
  BERTH_TRY(need("memory", "OOM events"));
  int ifd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (ifd < 0) return sys_fail(errno, "inotify_init1");
  unique_fd fd(ifd);
  // Through our directory fd: the watch is on this very cgroup's file.
  std::string file = str_cat("/proc/self/fd/", dir_.fd(), "/memory.events");
  if (::inotify_add_watch(fd.get(), file.c_str(), IN_MODIFY) < 0)
    return sys_fail(errno, str_cat("inotify_add_watch ", dir_.file_path("memory.events")));
  return fd;
}

Result<std::vector<pid_t>> V2Cgroup::pids() {
  return dir_.procs(true);
}

Result<void> V2Cgroup::kill_all(int signal) {
  if (signal == SIGKILL && dir_.has("cgroup.kill")) return dir_.write("cgroup.kill", "1");
  // Before Linux 5.14, or another signal: frozen, nothing forks away
  // between reading the pids and signalling them.
  bool frozen = false;
  if (signal == SIGKILL) {
    auto f = freeze();
    if (f)
      frozen = true;
    else if (f.error().sys_errno != ENOENT)  // ENOENT: destroyed already
      log::warn("cgroup: kill ", name_, ": freeze: ", f.error().message);
  }
  auto kill_them = [&]() -> Result<void> {
    for (pid_t pid : BERTH_TRY(pids()))
      if (::kill(pid, signal) != 0 && errno != ESRCH)
        return sys_fail(errno, str_cat("kill ", pid, " in cgroup ", name_));
    return {};
  };
  auto r = kill_them();
  if (frozen) {
    if (auto t = thaw(); !t && r) r = std::move(t);
  }
  return r;
}

Result<void> V2Cgroup::destroy() {
  auto parent = dir_.parent();
  if (!parent) {
    if (parent.error().sys_errno == ENOENT) return {};
    return std::unexpected(std::move(parent.error()));
  }
  return parent->remove(name_, busy_timeout_);
}

}  // namespace berth::core::cgroup::v2
