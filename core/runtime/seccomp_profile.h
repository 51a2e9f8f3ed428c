// A docker/OCI seccomp profile as docker reads it (moby/profiles/seccomp):
// the JSON of docker's default profile and of `--security-opt
// seccomp=PROFILE` (the CLI sends the file's content). The fields:
//   defaultAction, defaultErrnoRet, architectures | archMap
//   [{architecture, subArchitectures}], flags, listenerPath,
//   syscalls[{name | names, action, errnoRet, args[{index, value, valueTwo,
//   op}], includes / excludes {caps, arches, minKernel}, comment}]
// Keys match case-insensitively and unknown keys are ignored, as Go's
// encoding/json does. select_rules() is docker's setupSeccomp: it keeps the
// rules that apply to one architecture, capability set and kernel.
//
// Plain values; parse_seccomp_profile() is a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/runtime/caps.h"

namespace berth::core::runtime {

enum class SeccompAction { kill_thread, kill_process, trap, errno_ret, trace, allow, log, notify };

enum class SeccompOp { ne, lt, le, eq, ge, gt, masked_eq };

struct KernelVersion {
  unsigned major = 0, minor = 0;
  auto operator<=>(const KernelVersion&) const = default;
};
// "6.18.44-fc-v782" -> 6.18 (uname's release); nullopt when unparsable.
std::optional<KernelVersion> parse_kernel_release(std::string_view release);

struct SeccompArg {
  unsigned index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  SeccompOp op = SeccompOp::eq;
};

// includes / excludes of a rule.
struct SeccompCondition {
  std::vector<std::string> caps;    // "CAP_SYS_ADMIN" (compared exactly)
  std::vector<std::string> arches;  // Go's GOARCH names: "amd64", "arm64"
  std::optional<KernelVersion> min_kernel;
  bool empty() const { return caps.empty() && arches.empty() && !min_kernel; }
};

struct SeccompRule {
  std::vector<std::string> names;
  SeccompAction action = SeccompAction::allow;
  std::optional<unsigned> errno_ret;
  std::vector<SeccompArg> args;
  SeccompCondition includes, excludes;
};

struct SeccompArchMap {
  std::string arch;  // "SCMP_ARCH_X86_64"
  std::vector<std::string> sub_arches;
};

struct SeccompProfile {
  // nullopt: no defaultAction in the JSON (with no syscalls either: seccomp
  // disabled, as docker reads it).
  std::optional<SeccompAction> default_action;
  std::optional<unsigned> default_errno_ret;
  std::vector<std::string> architectures;
  std::vector<SeccompArchMap> arch_map;
  std::vector<std::string> flags;  // "SECCOMP_FILTER_FLAG_LOG", ...
  std::vector<SeccompRule> syscalls;
  // The capabilities any rule's includes/excludes name: two capability sets
  // that agree on these give the same filter.
  CapMask referenced_caps = 0;
};

Result<SeccompProfile> parse_seccomp_profile(std::string_view json);

// Where a filter is for: the GOARCH docker compares includes/excludes
// arches with, and the kernel minKernel is compared with.
struct SeccompTarget {
  std::string go_arch;  // "amd64"
  KernelVersion kernel;
  // This build's architecture and the running kernel (read once).
  static const SeccompTarget& host();
};

// The seccomp architecture names ("SCMP_ARCH_X86_64", ...) the filter
// covers: `architectures`, or the archMap entry of target.go_arch with its
// sub-architectures.
std::vector<std::string> select_arches(const SeccompProfile& profile, const SeccompTarget& target);
// The rules that apply, in order (docker's setupSeccomp filters).
std::vector<const SeccompRule*> select_rules(const SeccompProfile& profile, CapMask bounding,
                                             const SeccompTarget& target);

}  // namespace berth::core::runtime
