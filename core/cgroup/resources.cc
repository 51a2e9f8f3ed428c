#include "core/cgroup/resources.h"

#include <algorithm>

#include "core/base/strings.h"

namespace berth::core::cgroup {

static bool limit_ok(int64_t v) {
  return v == -1 || v > 0;
}

Result<void> check_resources(const Resources& r) {
  if (r.memory && !limit_ok(*r.memory))
    return fail(Errc::invalid_argument, str_cat("invalid memory limit ", *r.memory));
  if (r.memory_swap && !limit_ok(*r.memory_swap))
    return fail(Errc::invalid_argument, str_cat("invalid memory+swap limit ", *r.memory_swap));
  if (r.memory && r.memory_swap && *r.memory > 0 && *r.memory_swap > 0 &&
      *r.memory_swap < *r.memory)
    return fail(Errc::invalid_argument, str_cat("memory+swap limit ", *r.memory_swap,
                                                " is below the memory limit ", *r.memory));
  if (r.memory_reservation && *r.memory_reservation < -1)
    return fail(Errc::invalid_argument,
                str_cat("invalid memory reservation ", *r.memory_reservation));
  if (r.cpu_shares && *r.cpu_shares < 0)
    return fail(Errc::invalid_argument, str_cat("invalid cpu shares ", *r.cpu_shares));
  if (r.cpu_period && *r.cpu_period <= 0)
    return fail(Errc::invalid_argument, str_cat("invalid cpu period ", *r.cpu_period));
  if (r.nano_cpus && (r.cpu_quota || r.cpu_period))
    return fail(Errc::invalid_argument,
                "conflicting options: nano CPUs and CPU period/quota cannot both be set");
  if (r.nano_cpus && *r.nano_cpus < 0)
    return fail(Errc::invalid_argument, str_cat("invalid nano CPUs ", *r.nano_cpus));
  return {};
}

Result<CpuBandwidth> cpu_bandwidth(const Resources& r) {
  BERTH_TRY(check_resources(r));
  CpuBandwidth bw;
  if (r.nano_cpus) {
    constexpr int64_t period = 100000;
    bw.period = period;
    bw.quota = *r.nano_cpus == 0 ? -1 : *r.nano_cpus * period / 1000000000;
    return bw;
  }
  bw.quota = r.cpu_quota;
  bw.period = r.cpu_period;
  return bw;
}

std::string pids_max_value(int64_t limit) {
  return limit <= 0 ? std::string("max") : str_cat(limit);
}

uint64_t cpu_shares_to_weight(int64_t shares) {
  int64_t s = std::clamp<int64_t>(shares, 2, 262144);
  return static_cast<uint64_t>(1 + ((s - 2) * 9999) / 262142);
}

}  // namespace berth::core::cgroup
