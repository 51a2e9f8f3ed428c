#include "core/runtime/caps.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/base/strings.h"
#include "core/sys/host.h"

namespace berth::core::runtime {

namespace {

// Index = capability number (linux/capability.h).
constexpr std::string_view cap_names[max_named_cap + 1] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

constexpr CapMask mask_upto(int last) {
  return last >= 63 ? ~CapMask{0} : (CapMask{1} << (last + 1)) - 1;
}

constexpr CapMask named_mask = mask_upto(max_named_cap);

// Parses the hex CapEff value of /proc/<pid>/status; nullopt when absent.
std::optional<CapMask> parse_cap_eff(std::string_view status) {
  for (auto line : split(status, '\n')) {
    auto kv = split_once(line, ':');
    if (!kv || kv->first != "CapEff") continue;
    auto hex = trim(kv->second);
    CapMask v = 0;
    auto r = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
    if (r.ec != std::errc() || r.ptr != hex.data() + hex.size()) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

// Normalizes and validates one CapAdd/CapDrop list (moby's
// NormalizeLegacyCapabilities). Sets *all when "ALL" is present.
Result<CapMask> normalize_list(std::span<const std::string> names, const CapabilityHost& host,
                               bool* all) {
  CapMask mask = 0;
  for (const auto& raw : names) {
    std::string name = normalize_capability(raw);
    if (name == "ALL") {
      *all = true;
      continue;
    }
    auto n = capability_number(name);
    if (!n) return fail(Errc::invalid_argument, str_cat("unknown capability: \"", name, "\""));
    if (!(host.available & cap_bit(*n)))
      return fail(Errc::invalid_argument,
                  str_cat("capability not supported by your kernel or not available in the "
                          "current environment: \"",
                          name, "\""));
    mask |= cap_bit(*n);
  }
  return mask;
}

}  // namespace

std::string_view capability_name(int cap) {
  if (cap < 0 || cap > max_named_cap) return {};
  return cap_names[cap];
}

std::string normalize_capability(std::string_view name) {
  std::string up(name);
  for (auto& c : up)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (up == "ALL" || up.starts_with("CAP_")) return up;
  return "CAP_" + up;
}

std::optional<int> capability_number(std::string_view name) {
  std::string norm = normalize_capability(name);
  for (int i = 0; i <= max_named_cap; ++i)
    if (cap_names[i] == norm) return i;
  return std::nullopt;
}

std::vector<std::string> capability_names(CapMask mask) {
  std::vector<std::string> out;
  for (int i = 0; i <= max_named_cap; ++i)
    if (mask & cap_bit(i)) out.emplace_back(cap_names[i]);
  return out;
}

Result<CapMask> capability_mask(std::span<const std::string> names) {
  CapMask mask = 0;
  for (const auto& name : names) {
    auto n = capability_number(name);
    if (!n)
      return fail(Errc::invalid_argument,
                  str_cat("unknown capability: \"", normalize_capability(name), "\""));
    mask |= cap_bit(*n);
  }
  return mask;
}

CapMask CapabilityHost::kernel_mask() const {
  return mask_upto(last_cap);
}

CapabilityHost CapabilityHost::parse(std::string_view cap_last_cap, std::string_view proc_status) {
  CapabilityHost h;
  h.last_cap = CAP_LAST_CAP;
  if (auto n = parse_number<int>(trim(cap_last_cap)); n && *n >= 0 && *n < 64) h.last_cap = *n;
  CapMask held = parse_cap_eff(proc_status).value_or(~CapMask{0});
  h.available = named_mask & h.kernel_mask() & held;
  return h;
}

const CapabilityHost& CapabilityHost::current() {
  static const CapabilityHost host = parse(sys::read_small_file("/proc/sys/kernel/cap_last_cap"),
                                           sys::read_small_file("/proc/self/status"));
  return host;
}

CapMask default_capabilities() {
  return cap_bit(CAP_CHOWN) | cap_bit(CAP_DAC_OVERRIDE) | cap_bit(CAP_FSETID) |
         cap_bit(CAP_FOWNER) | cap_bit(CAP_MKNOD) | cap_bit(CAP_NET_RAW) | cap_bit(CAP_SETGID) |
         cap_bit(CAP_SETUID) | cap_bit(CAP_SETFCAP) | cap_bit(CAP_SETPCAP) |
         cap_bit(CAP_NET_BIND_SERVICE) | cap_bit(CAP_SYS_CHROOT) | cap_bit(CAP_KILL) |
         cap_bit(CAP_AUDIT_WRITE);
}

Result<CapMask> tweak_capabilities(CapMask basics, std::span<const std::string> add,
                                   std::span<const std::string> drop, bool privileged,
                                   const CapabilityHost& host) {
  if (privileged) return host.available;
  if (add.empty() && drop.empty()) return basics;
  bool drop_all = false, add_all = false;
  CapMask dropped = BERTH_TRY(normalize_list(drop, host, &drop_all));
  CapMask added = BERTH_TRY(normalize_list(add, host, &add_all));
  if (add_all) return host.available & ~dropped;
  if (drop_all) return added;
  return (basics & ~dropped) | added;
}

CapSets make_cap_sets(CapMask bounding, CapMask effective, CapMask permitted, CapMask inheritable,
                      CapMask ambient, const CapabilityHost& host) {
  CapMask known = host.kernel_mask();
  CapSets s;
  s.bounding = bounding & known;
  s.effective = effective & known;
  s.permitted = permitted & known;
  s.inheritable = inheritable & known;
  s.ambient = ambient & known;
  for (int i = 0; i <= host.last_cap; ++i) {
    if (!(s.bounding & cap_bit(i))) s.bounding_drop[s.bounding_drop_count++] = uint8_t(i);
    if (s.ambient & cap_bit(i)) s.ambient_raise[s.ambient_raise_count++] = uint8_t(i);
  }
  return s;
}

CapSets container_cap_sets(CapMask caps, uid_t uid, const CapabilityHost& host) {
  CapMask granted = uid == 0 ? caps & host.available : 0;
  return make_cap_sets(caps, granted, granted, 0, 0, host);
}

int drop_bounding_in_child(const CapSets& sets) noexcept {
  for (unsigned i = 0; i < sets.bounding_drop_count; ++i) {
    // EINVAL: the kernel does not know this capability (a different kernel
    // than the one the sets were computed for); nothing to drop.
    if (::syscall(SYS_prctl, PR_CAPBSET_DROP, static_cast<unsigned long>(sets.bounding_drop[i]),
                  0UL, 0UL, 0UL) != 0 &&
        errno != EINVAL)
      return errno;
  }
  return 0;
}

int set_in_child(const CapSets& sets) noexcept {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {
      {static_cast<uint32_t>(sets.effective), static_cast<uint32_t>(sets.permitted),
       static_cast<uint32_t>(sets.inheritable)},
      {static_cast<uint32_t>(sets.effective >> 32), static_cast<uint32_t>(sets.permitted >> 32),
       static_cast<uint32_t>(sets.inheritable >> 32)},
  };
  if (::syscall(SYS_capset, &header, data) != 0) return errno;
  if (sets.ambient_raise_count == 0) return 0;
  if (::syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL) != 0)
    return errno;
  for (unsigned i = 0; i < sets.ambient_raise_count; ++i)
    if (::syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE,
                  static_cast<unsigned long>(sets.ambient_raise[i]), 0UL, 0UL) != 0)
      return errno;
  return 0;
}

int apply_in_child(const CapSets& sets) noexcept {
  if (int err = drop_bounding_in_child(sets)) return err;
  return set_in_child(sets);
}

}  // namespace berth::core::runtime
