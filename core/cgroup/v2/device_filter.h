// The cgroup v2 device filter: v2 has no devices.allow; the kernel asks an
// eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE, attached to the cgroup with
// BPF_CGROUP_DEVICE) for every device open and mknod. runc's devicefilter
// is the model: the rule list is reduced the way the v1 kernel reads it
// (DeviceRuleSet), then compiled to one block per exception:
//
//   r2 = type, r3 = access, r4 = major, r5 = minor   (from bpf_cgroup_dev_ctx)
//   block i: if the device does not match exception i, go to block i+1;
//            else return exception i's verdict
//   last:    return the default verdict
//
// An allow exception matches when the requested access is within its
// access; a deny exception when they overlap (as v1's match_exception and
// match_exception_partial). compile is pure; load_and_attach makes the
// bpf(2) calls (CAP_SYS_ADMIN, or CAP_BPF with CAP_NET_ADMIN).
#pragma once

#include <linux/bpf.h>

#include <vector>

#include "core/base/error.h"
#include "core/cgroup/devices.h"

namespace berth::core::cgroup::v2 {

std::vector<bpf_insn> compile_device_filter(const DeviceRuleSet& rules);

// Loads the program and attaches it (BPF_F_ALLOW_MULTI) to the cgroup
// directory cgroup_fd (an fd opened O_RDONLY|O_DIRECTORY, not O_PATH). The
// attachment lives as long as the cgroup; the program fd is closed here.
Result<void> load_and_attach_device_filter(int cgroup_fd, const std::vector<bpf_insn>& prog);

}  // namespace berth::core::cgroup::v2
