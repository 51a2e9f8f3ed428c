// One container's cgroup in the unified hierarchy. Made by v2::Manager.
// Lifecycle and events are in cgroup.cc; limits and stats in
// cgroup_resources.cc.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/cgroup/dir.h"
#include "core/cgroup/manager.h"

namespace berth::core::cgroup::v2 {

class V2Cgroup final : public Cgroup {
 public:
  // path: from the hierarchy root.
  V2Cgroup(std::string name, Dir dir, std::string path, const ManagerOptions& opts);

  Version version() const override { return Version::v2; }
  const std::string& name() const override { return name_; }
  std::string path() const override { return path_; }
  std::vector<std::string> dirs() const override { return {dir_.path()}; }

  Result<std::vector<unique_fd>> procs_fds() override;
  Result<unique_fd> clone_dir_fd() override;
  Result<void> update(const Resources& r) override;
  Result<void> freeze() override;
  Result<void> thaw() override;
  Result<Stats> stats() override;
  Result<uint64_t> oom_kill_count() override;
  Result<unique_fd> oom_event_fd() override;
  Result<std::vector<pid_t>> pids() override;
  Result<void> kill_all(int signal) override;
  Result<void> destroy() override;

  // Create-time setup (v2::Manager): compiles docker's device rules plus
  // `extra` and attaches the program.
  Result<void> init_devices(const std::vector<DeviceRule>& extra);

 private:
  // Fails unless the controller is in this cgroup's cgroup.controllers.
  Result<void> need(std::string_view controller, std::string_view for_what) const;
  Result<void> set_memory(const Resources& r);
  Result<void> set_cpu(const Resources& r);
  Result<void> wait_frozen(bool want);

  std::string name_;
  Dir dir_;
  std::string path_;
  std::chrono::milliseconds freeze_timeout_;
  std::chrono::milliseconds busy_timeout_;
};

}  // namespace berth::core::cgroup::v2
