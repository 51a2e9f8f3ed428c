// V2Cgroup: limits (update) and usage (stats).
#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/cgroup/resources.h"
#include "core/cgroup/v2/cgroup.h"

namespace berth::core::cgroup::v2 {

namespace {

std::string max_or(int64_t v) {
  return v < 0 ? std::string("max") : str_cat(v);
}

}  // namespace

Result<void> V2Cgroup::set_memory(const Resources& r) {
  if (r.oom_kill_disable)
    log::warn("cgroup: ", name_, ": cgroup v2 has no OOM killer switch; oom_kill_disable ignored");
  if (!r.memory && !r.memory_swap && !r.memory_reservation) return {};
  BERTH_TRY(need("memory", "a memory limit"));
  if (r.memory) BERTH_TRY(dir_.write_limit("memory.max", max_or(*r.memory)));
  if (r.memory_swap) {
    // v2 limits swap alone: memory.swap.max = (memory + swap) - memory.
    std::string value = "max";
    if (*r.memory_swap >= 0) {
      std::optional<uint64_t> memory;
      if (r.memory && *r.memory > 0)
        memory = static_cast<uint64_t>(*r.memory);
      else if (!r.memory)
        memory = BERTH_TRY(read_number_or_max(dir_, "memory.max"));
      if (!memory)
        return fail(Errc::invalid_argument,
                    str_cat("a memory+swap limit of ", *r.memory_swap,
                            " needs a memory limit, and ", dir_.path(), " has none"));
      if (static_cast<uint64_t>(*r.memory_swap) < *memory)
        return fail(Errc::invalid_argument, str_cat("memory+swap limit ", *r.memory_swap,
                                                    " is below the memory limit ", *memory));
      value = str_cat(static_cast<uint64_t>(*r.memory_swap) - *memory);
    }
    if (!dir_.has("memory.swap.max")) {
      if (value != "max")
        return fail(Errc::invalid_argument,
                    str_cat("a swap limit needs swap accounting, and ",
                            dir_.file_path("memory.swap.max"), " is missing"));
    } else {
      BERTH_TRY(dir_.write_limit("memory.swap.max", value));
    }
  }
  if (r.memory_reservation)
    BERTH_TRY(dir_.write_limit("memory.low", max_or(*r.memory_reservation)));
  return {};
}

Result<void> V2Cgroup::set_cpu(const Resources& r) {
  CpuBandwidth bw = BERTH_TRY(cpu_bandwidth(r));
  if (!r.cpu_shares && !bw.quota && !bw.period) return {};
  BERTH_TRY(need("cpu", "a CPU limit"));
  if (r.cpu_shares)
    BERTH_TRY(dir_.write_limit("cpu.weight", str_cat(cpu_shares_to_weight(*r.cpu_shares))));
  if (bw.quota || bw.period) {
    // cpu.max is "QUOTA PERIOD"; a period alone keeps the quota in place.
    std::string quota;
    if (bw.quota) {
      quota = *bw.quota > 0 ? str_cat(*bw.quota) : "max";
    } else {
      std::string current = BERTH_TRY(dir_.read("cpu.max"));
      quota = std::string(split(trim(current), ' ')[0]);
    }
    std::string value = bw.period ? str_cat(quota, " ", *bw.period) : quota;
    BERTH_TRY(dir_.write_limit("cpu.max", value));
  }
  return {};
}

Result<void> V2Cgroup::update(const Resources& r) {
  BERTH_TRY(check_resources(r));
  BERTH_TRY(set_memory(r));
  BERTH_TRY(set_cpu(r));
  if (!r.cpuset_cpus.empty() || !r.cpuset_mems.empty()) {
    BERTH_TRY(need("cpuset", "a cpuset"));
    if (!r.cpuset_cpus.empty()) BERTH_TRY(dir_.write_limit("cpuset.cpus", r.cpuset_cpus));
    if (!r.cpuset_mems.empty()) BERTH_TRY(dir_.write_limit("cpuset.mems", r.cpuset_mems));
  }
  if (r.pids_limit) {
    BERTH_TRY(need("pids", "a pids limit"));
    BERTH_TRY(dir_.write_limit("pids.max", pids_max_value(*r.pids_limit)));
  }
  return {};
}

Result<Stats> V2Cgroup::stats() {
  Stats s;
  if (dir_.has("memory.current")) {
    s.memory_usage = BERTH_TRY(read_number(dir_, "memory.current"));
    s.memory_limit = BERTH_TRY(read_number_or_max(dir_, "memory.max"));
    if (dir_.has("memory.peak")) s.memory_max_usage = BERTH_TRY(read_number(dir_, "memory.peak"));
    s.memory_stat = keyed_values(BERTH_TRY(dir_.read("memory.stat")));
  }
  if (dir_.has("pids.current")) {
    s.pids_current = BERTH_TRY(read_number(dir_, "pids.current"));
    s.pids_limit = BERTH_TRY(read_number_or_max(dir_, "pids.max"));
  }
  // cpu.stat is always there (usage); the throttling lines come with the
  // cpu controller.
  std::string stat = BERTH_TRY(dir_.read("cpu.stat"));
  s.cpu_usage_ns = keyed_value(stat, "usage_usec").value_or(0) * 1000;
  s.cpu_user_ns = keyed_value(stat, "user_usec").value_or(0) * 1000;
  s.cpu_system_ns = keyed_value(stat, "system_usec").value_or(0) * 1000;
  s.cpu_periods = keyed_value(stat, "nr_periods").value_or(0);
  s.cpu_throttled_periods = keyed_value(stat, "nr_throttled").value_or(0);
  s.cpu_throttled_ns = keyed_value(stat, "throttled_usec").value_or(0) * 1000;
  return s;
}

}  // namespace berth::core::cgroup::v2
