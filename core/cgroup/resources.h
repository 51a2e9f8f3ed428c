// The driver-independent arithmetic of Resources: checks no kernel is
// needed for, and docker's conversions (nano CPUs, pids "max").
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/base/error.h"
#include "core/cgroup/manager.h"

namespace berth::core::cgroup {

// Refuses what is malformed whatever the kernel: memory values other than
// -1 or > 0, memory_swap below memory, negative shares or periods, nano_cpus
// together with cpu_quota or cpu_period.
Result<void> check_resources(const Resources& r);

// The CFS bandwidth to set: from nano_cpus (over a 100000 us period) or
// from cpu_quota / cpu_period as given. quota <= 0 means unlimited.
struct CpuBandwidth {
  std::optional<int64_t> quota;
  std::optional<int64_t> period;
};
Result<CpuBandwidth> cpu_bandwidth(const Resources& r);

// pids.max: the limit, or "max" when <= 0.
std::string pids_max_value(int64_t limit);

}  // namespace berth::core::cgroup
