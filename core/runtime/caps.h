// Linux capabilities of a container: names and numbers, docker's default
// set, the CapAdd/CapDrop/Privileged arithmetic docker does, and the sets a
// container process gets — computed in the parent as plain 64-bit masks, then
// applied in the spawn child with raw syscalls only.
//
// The arithmetic follows moby's oci/caps (TweakCapabilities) to the letter:
//   - privileged: every available capability, CapAdd/CapDrop ignored;
//   - "ALL" in CapAdd: every available capability except those in CapDrop
//     (here a drop wins);
//   - else "ALL" in CapDrop: exactly CapAdd;
//   - else the defaults minus CapDrop, plus CapAdd (so a capability named in
//     both lists is kept: the add is applied last, as docker does).
// Names are upper-cased and get a "CAP_" prefix when missing ("net_admin",
// "NET_ADMIN" and "cap_net_admin" are one name); an unknown name is an error
// (`unknown capability: "CAP_FOO"`), and so is a known one the daemon cannot
// grant (`capability not supported by your kernel or not available in the
// current environment: "CAP_BPF"`), in docker's words. "Available" is what
// docker calls it too: a capability berth can name, that the running kernel
// knows (<= /proc/sys/kernel/cap_last_cap) and that the daemon holds in its
// effective set.
//
// Which sets a process gets (moby's oci.SetCapabilities, since 20.10.14 and
// CVE-2022-24769): for uid 0, bounding = effective = permitted = the list;
// for any other uid only bounding = the list, effective and permitted are
// empty, "to match what execve does" for a non-root user. Inheritable and
// ambient are always empty — docker sets neither, so a non-root process has
// no capabilities after execve except what file capabilities grant (capped by
// the bounding set). runc applies such a spec as: drop from the bounding set,
// PR_SET_KEEPCAPS, switch user, capset(effective, permitted, inheritable),
// raise ambient; drop_bounding_in_child() and set_in_child() below are those
// two halves, and user.h's apply_in_child() is the switch between them.
//
// Thread-safety: pure functions over values; CapabilityHost::current() reads
// /proc once (thread-safe static). The *_in_child functions are
// async-signal-safe and allocate nothing (see their comments).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::core::runtime {

// Bit n set = capability number n.
using CapMask = uint64_t;

constexpr CapMask cap_bit(int cap) {
  return cap >= 0 && cap < 64 ? CapMask{1} << cap : 0;
}

// The highest capability number berth has a name for (CAP_CHECKPOINT_RESTORE).
inline constexpr int max_named_cap = 40;

// "CAP_CHOWN" for 0 ...; "" for a number berth cannot name.
std::string_view capability_name(int cap);
// Number of a name as docker accepts it (case-insensitive, "CAP_" optional);
// nullopt for an unknown name or "ALL".
std::optional<int> capability_number(std::string_view name);
// docker's normalization: upper case, "CAP_" prefixed unless "ALL".
std::string normalize_capability(std::string_view name);
// Names of the capabilities in mask, by number ("CAP_CHOWN", "CAP_KILL", ...).
std::vector<std::string> capability_names(CapMask mask);
// The mask of the named capabilities (docker normalization); an unknown
// name is an error. "ALL" is not accepted here.
Result<CapMask> capability_mask(std::span<const std::string> names);

// What the running kernel and the daemon allow.
struct CapabilityHost {
  int last_cap = max_named_cap;  // /proc/sys/kernel/cap_last_cap
  CapMask available = 0;         // nameable, <= last_cap, in the daemon's CapEff

  // Every capability number the kernel knows (0..last_cap), named or not.
  CapMask kernel_mask() const;

  // From the text of /proc/sys/kernel/cap_last_cap and /proc/self/status
  // (either may be empty: then the header's last cap / all nameable caps).
  static CapabilityHost parse(std::string_view cap_last_cap, std::string_view proc_status);
  // This process, read once on first use.
  static const CapabilityHost& current();
};

// docker's default set (docker-defaults.md): CHOWN, DAC_OVERRIDE, FSETID,
// FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
// NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
CapMask default_capabilities();

// docker's TweakCapabilities over masks (see the header comment).
Result<CapMask> tweak_capabilities(CapMask basics, std::span<const std::string> add,
                                   std::span<const std::string> drop, bool privileged,
                                   const CapabilityHost& host = CapabilityHost::current());

// The sets of one container process, ready for the child.
struct CapSets {
  CapMask bounding = 0;
  CapMask effective = 0;
  CapMask permitted = 0;
  CapMask inheritable = 0;
  CapMask ambient = 0;
  // Numbers to PR_CAPBSET_DROP, ascending: every cap <= last_cap not in
  // bounding. Fixed storage so the child reads it without allocating.
  uint8_t bounding_drop[64] = {};
  uint8_t bounding_drop_count = 0;
  uint8_t ambient_raise[64] = {};
  uint8_t ambient_raise_count = 0;
};

// The sets docker/runc give a process running as uid with capability list
// caps (see the header comment). effective/permitted are also limited to
// host.available: the kernel refuses to grant what the daemon lacks.
CapSets container_cap_sets(CapMask caps, uid_t uid,
                           const CapabilityHost& host = CapabilityHost::current());
// The same from five explicit sets (an OCI spec's lists): computes the drop
// and raise lists; bits above host.last_cap are ignored, as runc does.
CapSets make_cap_sets(CapMask bounding, CapMask effective, CapMask permitted, CapMask inheritable,
                      CapMask ambient, const CapabilityHost& host = CapabilityHost::current());

// In the spawn child (vfork-like, sharing the daemon's memory). Each returns
// 0 or the errno of the failing call; each uses only raw syscall(2)s over
// the precomputed struct — no allocation, no locks, async-signal-safe.
//
// Drops every bounding_drop capability (PR_CAPBSET_DROP; needs CAP_SETPCAP,
// so it must run before the user switch takes the effective set away).
int drop_bounding_in_child(const CapSets& sets) noexcept;
// capset(effective, permitted, inheritable), then, when ambient is not
// empty, PR_CAP_AMBIENT_CLEAR_ALL and one PR_CAP_AMBIENT_RAISE per cap. Run
// after the user switch (which keeps the permitted set, see user.h).
int set_in_child(const CapSets& sets) noexcept;
// Both, for a process that does not change its uid.
int apply_in_child(const CapSets& sets) noexcept;

}  // namespace berth::core::runtime
