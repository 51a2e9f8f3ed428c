// Seccomp filters for containers: a profile (seccomp_profile.h) compiled
// with libseccomp, as runc does, into a classic BPF program the spawn child
// installs with one raw seccomp(2) call.
//
// Compiling follows docker + runc: the rules docker's setupSeccomp keeps for
// the container's bounding set, this architecture and kernel; the
// architectures of the archMap entry for this arch (x86_64 with x86 and x32);
// syscall names libseccomp does not know are skipped; a rule whose action is
// the default action is skipped; a rule naming one argument index twice
// becomes one rule per condition (OR), otherwise one rule with all of them
// (AND); SCMP_ACT_ERRNO/TRACE without errnoRet return EPERM, the default
// action's errno is defaultErrnoRet. Unlike runc, syscalls newer than
// libseccomp's table get the default action (runc patches the program to
// answer ENOSYS for those); SCMP_ACT_NOTIFY and listenerPath are refused.
//
// Compiling costs milliseconds; seccomp_cache.h keeps the programs so a
// container start only looks one up.
//
// Thread-safety: compile_seccomp() is reentrant; a SeccompProgram is an
// immutable value once built. apply_in_child() is async-signal-safe and
// allocates nothing.
#pragma once

#include <linux/filter.h>

#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/runtime/caps.h"
#include "core/runtime/seccomp_profile.h"

namespace berth::core::runtime {

// Docker's default profile (moby/profiles seccomp/default.json, Apache-2.0),
// embedded at build time. Static storage.
std::string_view default_seccomp_profile_json();

struct SeccompProgram {
  std::vector<sock_filter> filter;  // empty: no filter (unconfined)
  unsigned flags = 0;               // SECCOMP_FILTER_FLAG_* for seccomp(2)

  bool unconfined() const { return filter.empty(); }
  // A view for seccomp(2)/prctl; valid while this program lives.
  sock_fprog fprog() const {
    return sock_fprog{static_cast<unsigned short>(filter.size()),
                      const_cast<sock_filter*>(filter.data())};
  }
};

// Compiles profile for a container whose bounding set is bounding. A
// profile without defaultAction and syscalls gives an unconfined program
// (docker: seccomp disabled).
Result<SeccompProgram> compile_seccomp(const SeccompProfile& profile, CapMask bounding,
                                       const SeccompTarget& target = SeccompTarget::host());

// In the spawn child: installs the filter (nothing when unconfined) with a
// raw seccomp(SECCOMP_SET_MODE_FILTER, flags) — no TSYNC: the child is a
// thread group of its own. Returns 0 or the errno. The kernel requires
// no_new_privs or CAP_SYS_ADMIN in the effective set, so, as runc does:
// without no_new_privs install it before the capabilities are dropped
// (caps.h's set_in_child), with it as late as possible before execve. It
// must come after mounts and pivot_root (docker's profile denies them), and
// docker's profile allows what follows it (prctl, capset, setresuid,
// setgroups, execve). Async-signal-safe, no allocation.
int apply_in_child(const SeccompProgram& program) noexcept;

}  // namespace berth::core::runtime
