// One container's cgroup in the v1 hierarchies. Made by v1::Manager.
// Lifecycle and events are in cgroup.cc; limits and stats in
// cgroup_resources.cc.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/cgroup/dir.h"
#include "core/cgroup/manager.h"

namespace berth::core::cgroup::v1 {

class V1Cgroup final : public Cgroup {
 public:
  struct Part {
    std::vector<std::string> controllers;
    Dir dir;
    std::string path;  // from the hierarchy root
  };

  V1Cgroup(std::string name, std::vector<Part> parts, const ManagerOptions& opts);

  Version version() const override { return Version::v1; }
  const std::string& name() const override { return name_; }
  std::string path() const override;
  std::vector<std::string> dirs() const override;

  Result<std::vector<unique_fd>> procs_fds() override;
  Result<unique_fd> clone_dir_fd() override { return unique_fd(); }
  Result<void> update(const Resources& r) override;
  Result<void> freeze() override;
  Result<void> thaw() override;
  Result<Stats> stats() override;
  Result<uint64_t> oom_kill_count() override;
  Result<unique_fd> oom_event_fd() override;
  Result<std::vector<pid_t>> pids() override;
  Result<void> kill_all(int signal) override;
  Result<void> destroy() override;

  // Create-time setup (v1::Manager): cpuset.cpus/mems from the parent,
  // then deny all devices and allow docker's list and `extra`.
  Result<void> init_cpuset(const Dir& parent);
  Result<void> init_devices(const std::vector<DeviceRule>& extra);

  // The directory of the hierarchy holding controller, or nullptr.
  const Dir* dir_for(std::string_view controller) const;

 private:
  Result<const Dir*> need(std::string_view controller, std::string_view for_what) const;
  Result<void> set_memory(const Dir& mem, const Resources& r);
  Result<void> set_cpu(const Resources& r);
  Result<void> wait_freezer(const Dir& dir, std::string_view want);

  std::string name_;
  std::vector<Part> parts_;
  std::chrono::milliseconds freeze_timeout_;
  std::chrono::milliseconds busy_timeout_;
};

// Copies cpuset.cpus and cpuset.mems from parent into a new child where it
// has none (else tasks cannot join: ENOSPC).
Result<void> copy_cpuset(const Dir& child, const Dir& parent);

}  // namespace berth::core::cgroup::v1
