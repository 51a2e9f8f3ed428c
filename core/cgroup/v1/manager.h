// The cgroup v1 driver: one directory per container in each hierarchy
// (memory, cpu, cpuacct, cpuset, pids, freezer, devices, blkio; cpu and
// cpuacct may share one mount), found from mountinfo, never assumed.
// See core/cgroup/manager.h for the contract.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/cgroup/manager.h"

namespace berth::core::cgroup::v1 {

// The controllers berth uses, in the order hierarchies are handled.
const std::vector<std::string>& known_controllers();

// One mounted v1 hierarchy.
struct Hierarchy {
  std::vector<std::string> controllers;  // of known_controllers() ("cpu", "cpuacct")
  std::string mount_point;
  std::string own = "/";  // this process's cgroup in it, from the mount point
};

// The hierarchies mounted at or below cgroup_root that hold a known
// controller, one per mount point.
std::vector<Hierarchy> find_hierarchies(std::string_view mountinfo, std::string_view proc_cgroup,
                                        std::string_view cgroup_root);

Result<std::unique_ptr<Manager>> make_manager(std::vector<Hierarchy> hierarchies,
                                              ManagerOptions opts);

}  // namespace berth::core::cgroup::v1
