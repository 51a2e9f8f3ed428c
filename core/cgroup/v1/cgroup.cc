#include "core/cgroup/v1/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <thread>

#include "core/base/log.h"
#include "core/base/strings.h"

namespace berth::core::cgroup::v1 {

V1Cgroup::V1Cgroup(std::string name, std::vector<Part> parts, const ManagerOptions& opts)
    : name_(std::move(name)),
      parts_(std::move(parts)),
      freeze_timeout_(opts.freeze_timeout),
      busy_timeout_(opts.busy_timeout) {}

const Dir* V1Cgroup::dir_for(std::string_view controller) const {
  for (const Part& p : parts_)
    if (std::find(p.controllers.begin(), p.controllers.end(), controller) != p.controllers.end())
      return &p.dir;
  return nullptr;
}

Result<const Dir*> V1Cgroup::need(std::string_view controller, std::string_view for_what) const {
  if (const Dir* d = dir_for(controller)) return d;
  return fail(Errc::invalid_argument,
              str_cat(for_what, " needs the ", controller, " cgroup, which is not mounted"));
}

std::string V1Cgroup::path() const {
  for (const Part& p : parts_)
    if (std::find(p.controllers.begin(), p.controllers.end(), "memory") != p.controllers.end())
      return p.path;
  return parts_.empty() ? std::string() : parts_.front().path;
}

std::vector<std::string> V1Cgroup::dirs() const {
  std::vector<std::string> out;
  for (const Part& p : parts_) out.push_back(p.dir.path());
  return out;
}

Result<std::vector<unique_fd>> V1Cgroup::procs_fds() {
  std::vector<unique_fd> out;
  for (const Part& p : parts_) out.push_back(BERTH_TRY(p.dir.open_file("cgroup.procs", O_WRONLY)));
  return out;
}

Result<void> copy_cpuset(const Dir& child, const Dir& parent) {
  for (std::string_view file : {"cpuset.cpus", "cpuset.mems"}) {
    std::string mine = BERTH_TRY(child.read(file));
    if (!trim(mine).empty()) continue;
    std::string theirs = BERTH_TRY(parent.read(file));
    std::string_view v = trim(theirs);
    if (v.empty())
      return fail(Errc::invalid_argument, str_cat(parent.file_path(file), " is empty"));
    BERTH_TRY(child.write_limit(file, v));
  }
  return {};
}

Result<void> V1Cgroup::init_cpuset(const Dir& parent) {
  if (const Dir* d = dir_for("cpuset")) return copy_cpuset(*d, parent);
  return {};
}

Result<void> V1Cgroup::init_devices(const std::vector<DeviceRule>& extra) {
  const Dir* d = dir_for("devices");
  if (!d) return {};  // logged once by the manager
  for (const DeviceRule& rule : container_device_rules(extra))
    BERTH_TRY(d->write(rule.allow ? "devices.allow" : "devices.deny", to_v1_string(rule)));
  return {};
}

Result<void> V1Cgroup::wait_freezer(const Dir& dir, std::string_view want) {
  auto deadline = std::chrono::steady_clock::now() + freeze_timeout_;
  auto pause = std::chrono::microseconds(100);
  for (int round = 0;; ++round) {
    std::string state = BERTH_TRY(dir.read("freezer.state"));
    if (trim(state) == want) return {};
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(Errc::timeout,
                  str_cat("freeze ", dir.path(), ": freezer.state is ", trim(state), ", not ", want,
                          " after ", freeze_timeout_.count(), " ms"));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
    // A task that forks or joins while FREEZING can leave the cgroup stuck
    // there; asking again moves it on (runc does the same).
    if (round % 4 == 3) BERTH_TRY(dir.write("freezer.state", want));
  }
}

Result<void> V1Cgroup::freeze() {
  const Dir* d = BERTH_TRY(need("freezer", "freeze"));
  BERTH_TRY(d->write("freezer.state", "FROZEN"));
  auto r = wait_freezer(*d, "FROZEN");
  if (!r) {
    if (auto t = thaw(); !t) log::warn("cgroup: thaw after failed freeze: ", t.error().message);
  }
  return r;
}

Result<void> V1Cgroup::thaw() {
  const Dir* d = BERTH_TRY(need("freezer", "thaw"));
  BERTH_TRY(d->write("freezer.state", "THAWED"));
  return wait_freezer(*d, "THAWED");
}

Result<uint64_t> V1Cgroup::oom_kill_count() {
  const Dir* d = BERTH_TRY(need("memory", "OOM count"));
  std::string text = BERTH_TRY(d->read("memory.oom_control"));
  // "oom_kill" is there since Linux 4.13; before, no count exists.
  return keyed_value(text, "oom_kill").value_or(0);
}

Result<unique_fd> V1Cgroup::oom_event_fd() {
  const Dir* d = BERTH_TRY(need("memory", "OOM events"));
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return sys_fail(errno, "eventfd");
  unique_fd event(efd);
  // The kernel keeps what it needs of oom_control at registration; our fd
  // of it can close afterwards.
  unique_fd control = BERTH_TRY(d->open_file("memory.oom_control", O_RDONLY));
  BERTH_TRY(d->write("cgroup.event_control", str_cat(event.get(), " ", control.get())));
  return event;
}

Result<std::vector<pid_t>> V1Cgroup::pids() {
  for (std::string_view c : {"pids", "freezer", "memory", "cpu", "devices"})
    if (const Dir* d = dir_for(c)) return d->procs(true);
  if (parts_.empty()) return std::vector<pid_t>();
  return parts_.front().dir.procs(true);
}

Result<void> V1Cgroup::kill_all(int signal) {
  // An empty cgroup (the usual case once a container's init has exited and
  // taken its pid namespace along) needs no freeze: each freeze and thaw
  // costs milliseconds here (the kernel patches its freezer static key).
  {
    auto now = pids();
    if (now && now->empty()) return {};
  }
  // Frozen, nothing can fork a new process between reading the pids and
  // signalling them; SIGKILL takes effect on thaw.
  bool frozen = false;
  if (signal == SIGKILL && dir_for("freezer")) {
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

Result<void> V1Cgroup::destroy() {
  Result<void> first;
  // One time budget for all hierarchies, not one each.
  auto deadline = std::chrono::steady_clock::now() + busy_timeout_;
  for (const Part& p : parts_) {
    auto parent = p.dir.parent();
    if (!parent) {
      if (parent.error().sys_errno == ENOENT) continue;  // removed already
      if (first) first = std::unexpected(std::move(parent.error()));
      continue;
    }
    auto left = std::max(std::chrono::steady_clock::duration::zero(),
                         deadline - std::chrono::steady_clock::now());
    auto r = parent->remove(name_, std::chrono::duration_cast<std::chrono::milliseconds>(left));
    if (!r && first) first = std::move(r);
  }
  return first;
}

}  // namespace berth::core::cgroup::v1
