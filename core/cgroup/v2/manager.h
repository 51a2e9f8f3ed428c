// The cgroup v2 driver: one directory per container in the unified
// hierarchy. The parent levels berth makes get the controllers enabled in
// their cgroup.subtree_control (only those the level's cgroup.controllers
// offers); the container's own cgroup enables none, since it holds
// processes ("no internal processes"), and the daemon never joins a
// cgroup berth made. Device confinement is an eBPF program
// (v2/device_filter.h). See core/cgroup/manager.h for the contract.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/cgroup/manager.h"

namespace berth::core::cgroup::v2 {

// The controllers berth enables for containers where they are offered.
const std::vector<std::string>& wanted_controllers();

struct Unified {
  std::string mount_point;
  std::string own;  // this process's cgroup, from the mount point
};

// The cgroup2 mount at cgroup_root, else the first one below it.
std::optional<Unified> find_unified(std::string_view mountinfo, std::string_view proc_cgroup,
                                    std::string_view cgroup_root);

Result<std::unique_ptr<Manager>> make_manager(Unified unified, ManagerOptions opts);

}  // namespace berth::core::cgroup::v2
