// V1Cgroup: limits (update) and usage (stats).
#include <unistd.h>

#include "core/base/strings.h"
#include "core/cgroup/resources.h"
#include "core/cgroup/v1/cgroup.h"

namespace berth::core::cgroup::v1 {

namespace {

constexpr std::string_view memsw_file = "memory.memsw.limit_in_bytes";
constexpr std::string_view limit_file = "memory.limit_in_bytes";

// v1 reports "no limit" as the largest page-aligned counter (9223372036854771712).
std::optional<uint64_t> limit_or_unlimited(uint64_t v) {
  if (v >= (uint64_t{1} << 62)) return std::nullopt;
  return v;
}

}  // namespace

Result<void> V1Cgroup::set_memory(const Dir& mem, const Resources& r) {
  std::optional<int64_t> memory = r.memory, swap = r.memory_swap;
  // Unlimited memory with a limited memsw is refused by the kernel; the
  // swap limit goes away with it unless one is given.
  if (memory == -1 && !swap) swap = -1;
  if (swap && !mem.has(memsw_file)) {
    if (*swap != -1)
      return fail(Errc::invalid_argument, str_cat("a swap limit needs swap accounting, and ",
                                                  mem.file_path(memsw_file), " is missing"));
    swap.reset();  // unlimited is what there is
  }
  auto set_mem = [&]() -> Result<void> {
    return memory ? mem.write_limit(limit_file, str_cat(*memory)) : Result<void>();
  };
  auto set_swap = [&]() -> Result<void> {
    return swap ? mem.write_limit(memsw_file, str_cat(*swap)) : Result<void>();
  };
  // memsw must stay >= the memory limit at every step: raise memsw first
  // when it grows past the current limit.
  bool swap_first = false;
  if (memory && swap) {
    uint64_t current = BERTH_TRY(read_number(mem, limit_file));
    swap_first = *swap == -1 || current < static_cast<uint64_t>(*swap);
  }
  if (swap_first) {
    BERTH_TRY(set_swap());
    BERTH_TRY(set_mem());
  } else {
    BERTH_TRY(set_mem());
    BERTH_TRY(set_swap());
  }
  if (r.memory_reservation)
    BERTH_TRY(mem.write_limit("memory.soft_limit_in_bytes", str_cat(*r.memory_reservation)));
  if (r.oom_kill_disable) BERTH_TRY(mem.write_limit("memory.oom_control", "1"));
  return {};
}

Result<void> V1Cgroup::set_cpu(const Resources& r) {
  CpuBandwidth bw = BERTH_TRY(cpu_bandwidth(r));
  if (!r.cpu_shares && !bw.quota && !bw.period) return {};
  const Dir* cpu = BERTH_TRY(need("cpu", "a CPU limit"));
  if (r.cpu_shares) BERTH_TRY(cpu->write_limit("cpu.shares", str_cat(*r.cpu_shares)));
  auto quota = [&]() -> Result<void> {
    return bw.quota ? cpu->write_limit("cpu.cfs_quota_us", str_cat(*bw.quota > 0 ? *bw.quota : -1))
                    : Result<void>();
  };
  auto period = [&]() -> Result<void> {
    return bw.period ? cpu->write_limit("cpu.cfs_period_us", str_cat(*bw.period)) : Result<void>();
  };
  // The kernel checks each write against the other value in place; if the
  // new period does not fit the old quota, the other order does.
  if (auto p = period(); !p) {
    if (p.error().sys_errno != EINVAL || !bw.quota) return p;
    BERTH_TRY(quota());
    return period();
  }
  return quota();
}

Result<void> V1Cgroup::update(const Resources& r) {
  BERTH_TRY(check_resources(r));
  if (r.memory || r.memory_swap || r.memory_reservation || r.oom_kill_disable) {
    const Dir* mem = BERTH_TRY(need("memory", "a memory limit"));
    BERTH_TRY(set_memory(*mem, r));
  }
  BERTH_TRY(set_cpu(r));
  if (!r.cpuset_cpus.empty() || !r.cpuset_mems.empty()) {
    const Dir* cs = BERTH_TRY(need("cpuset", "a cpuset"));
    if (!r.cpuset_cpus.empty()) BERTH_TRY(cs->write_limit("cpuset.cpus", r.cpuset_cpus));
    if (!r.cpuset_mems.empty()) BERTH_TRY(cs->write_limit("cpuset.mems", r.cpuset_mems));
  }
  if (r.pids_limit) {
    const Dir* p = BERTH_TRY(need("pids", "a pids limit"));
    BERTH_TRY(p->write_limit("pids.max", pids_max_value(*r.pids_limit)));
  }
  return {};
}

Result<Stats> V1Cgroup::stats() {
  Stats s;
  if (const Dir* mem = dir_for("memory")) {
    s.memory_usage = BERTH_TRY(read_number(*mem, "memory.usage_in_bytes"));
    s.memory_limit = limit_or_unlimited(BERTH_TRY(read_number(*mem, limit_file)));
    if (mem->has("memory.max_usage_in_bytes"))
      s.memory_max_usage = BERTH_TRY(read_number(*mem, "memory.max_usage_in_bytes"));
    s.memory_stat = keyed_values(BERTH_TRY(mem->read("memory.stat")));
  }
  if (const Dir* p = dir_for("pids")) {
    s.pids_current = BERTH_TRY(read_number(*p, "pids.current"));
    s.pids_limit = BERTH_TRY(read_number_or_max(*p, "pids.max"));
  }
  if (const Dir* acct = dir_for("cpuacct")) {
    s.cpu_usage_ns = BERTH_TRY(read_number(*acct, "cpuacct.usage"));
    std::string percpu = BERTH_TRY(acct->read("cpuacct.usage_percpu"));
    for (std::string_view v : split(trim(percpu), ' '))
      if (auto n = parse_number<uint64_t>(v)) s.cpu_per_cpu_ns.push_back(*n);
    // user and system come in clock ticks.
    std::string stat = BERTH_TRY(acct->read("cpuacct.stat"));
    long hz = ::sysconf(_SC_CLK_TCK);
    uint64_t tick_ns = hz > 0 ? 1000000000ull / static_cast<uint64_t>(hz) : 10000000ull;
    s.cpu_user_ns = keyed_value(stat, "user").value_or(0) * tick_ns;
    s.cpu_system_ns = keyed_value(stat, "system").value_or(0) * tick_ns;
  }
  if (const Dir* cpu = dir_for("cpu"); cpu && cpu->has("cpu.stat")) {
    std::string stat = BERTH_TRY(cpu->read("cpu.stat"));
    s.cpu_periods = keyed_value(stat, "nr_periods").value_or(0);
    s.cpu_throttled_periods = keyed_value(stat, "nr_throttled").value_or(0);
    s.cpu_throttled_ns = keyed_value(stat, "throttled_time").value_or(0);
  }
  return s;
}

}  // namespace berth::core::cgroup::v1
