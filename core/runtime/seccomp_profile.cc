#include "core/runtime/seccomp_profile.h"

#include <sys/utsname.h>

#include <algorithm>

#include "core/base/json/reader.h"
#include "core/base/strings.h"

namespace berth::core::runtime {

namespace {

namespace od = json::od;

// Details; parse_seccomp_profile() prefixes docker's "decoding seccomp
// profile failed: ".
Error invalid(std::string message) {
  return Error{Errc::invalid_argument, 0, std::move(message)};
}

std::unexpected<Error> decoding_failed(const Error& e) {
  return std::unexpected(
      Error{Errc::invalid_argument, 0, str_cat("decoding seccomp profile failed: ", e.message)});
}

Result<SeccompAction> parse_action(std::string_view s) {
  static constexpr std::pair<std::string_view, SeccompAction> actions[] = {
      {"SCMP_ACT_KILL", SeccompAction::kill_thread},
      {"SCMP_ACT_KILL_THREAD", SeccompAction::kill_thread},
      {"SCMP_ACT_KILL_PROCESS", SeccompAction::kill_process},
      {"SCMP_ACT_TRAP", SeccompAction::trap},
      {"SCMP_ACT_ERRNO", SeccompAction::errno_ret},
      {"SCMP_ACT_TRACE", SeccompAction::trace},
      {"SCMP_ACT_ALLOW", SeccompAction::allow},
      {"SCMP_ACT_LOG", SeccompAction::log},
      {"SCMP_ACT_NOTIFY", SeccompAction::notify},
  };
  for (auto [name, a] : actions)
    if (name == s) return a;
  return std::unexpected(invalid(str_cat("invalid action \"", s, "\"")));
}

Result<SeccompOp> parse_op(std::string_view s) {
  static constexpr std::pair<std::string_view, SeccompOp> ops[] = {
      {"SCMP_CMP_NE", SeccompOp::ne},
      {"SCMP_CMP_LT", SeccompOp::lt},
      {"SCMP_CMP_LE", SeccompOp::le},
      {"SCMP_CMP_EQ", SeccompOp::eq},
      {"SCMP_CMP_GE", SeccompOp::ge},
      {"SCMP_CMP_GT", SeccompOp::gt},
      {"SCMP_CMP_MASKED_EQ", SeccompOp::masked_eq},
  };
  for (auto [name, op] : ops)
    if (name == s) return op;
  return std::unexpected(invalid(str_cat("invalid operator \"", s, "\"")));
}

// docker's KernelVersion: exactly "<kernel>.<major>", not 0.0.
Result<std::optional<KernelVersion>> parse_min_kernel(od::value v, std::string_view field) {
  std::string s = BERTH_TRY(json::get_string(v, field));
  if (s.empty()) return std::optional<KernelVersion>();
  auto parts = split(s, '.');
  std::optional<unsigned> k, m;
  if (parts.size() == 2) {
    k = parse_number<unsigned>(parts[0]);
    m = parse_number<unsigned>(parts[1]);
  }
  if (!k || !m || *k > 255 || *m > 255 || (*k == 0 && *m == 0))
    return std::unexpected(
        invalid(str_cat("invalid kernel version: \"", s, "\", expected \"<kernel>.<major>\"")));
  return std::optional<KernelVersion>(KernelVersion{*k, *m});
}

Result<std::optional<unsigned>> parse_errno(od::value v, std::string_view field) {
  if (json::is_null(v)) return std::optional<unsigned>();
  uint64_t n = BERTH_TRY(json::get_uint(v, field));
  if (n > 0xffff) return std::unexpected(invalid(str_cat(field, ": ", n, " is out of range")));
  return std::optional<unsigned>(static_cast<unsigned>(n));
}

// Calls fn(element) for each element of an array (null is empty).
template <class Fn>
Result<void> for_each_element(od::value v, std::string_view field, Fn&& fn) {
  if (json::is_null(v)) return {};
  od::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS)
    return std::unexpected(json::bad_field(field, "expected an array"));
  for (auto el : arr) {
    od::value item;
    if (el.get(item) != simdjson::SUCCESS)
      return std::unexpected(json::bad_field(field, "invalid element"));
    BERTH_TRY(fn(item));
  }
  return {};
}

Result<SeccompCondition> parse_condition(od::value v, std::string_view field) {
  SeccompCondition c;
  if (json::is_null(v)) return c;
  BERTH_TRY(json::for_each_field(v, field, [&](std::string_view k, od::value val) -> Result<void> {
    if (iequals(k, "caps")) {
      c.caps = BERTH_TRY(json::get_string_array(val, "caps"));
    } else if (iequals(k, "arches")) {
      c.arches = BERTH_TRY(json::get_string_array(val, "arches"));
    } else if (iequals(k, "minKernel")) {
      c.min_kernel = BERTH_TRY(parse_min_kernel(val, "minKernel"));
    }
    return {};
  }));
  return c;
}

Result<SeccompArg> parse_arg(od::value v) {
  SeccompArg a;
  bool have_op = false;
  BERTH_TRY(json::for_each_field(v, "args", [&](std::string_view k, od::value val) -> Result<void> {
    if (iequals(k, "index")) {
      uint64_t i = BERTH_TRY(json::get_uint(val, "index"));
      if (i >= 6)
        return std::unexpected(invalid(str_cat("argument index ", i, " is out of range")));
      a.index = static_cast<unsigned>(i);
    } else if (iequals(k, "value")) {
      a.value = BERTH_TRY(json::get_uint(val, "value"));
    } else if (iequals(k, "valueTwo")) {
      a.value_two = BERTH_TRY(json::get_uint(val, "valueTwo"));
    } else if (iequals(k, "op")) {
      a.op = BERTH_TRY(parse_op(BERTH_TRY(json::get_string(val, "op"))));
      have_op = true;
    }
    return {};
  }));
  if (!have_op) return std::unexpected(invalid("argument without an operator"));
  return a;
}

Result<SeccompRule> parse_rule(od::value v) {
  SeccompRule r;
  std::string name;
  std::string action;
  BERTH_TRY(
      json::for_each_field(v, "syscalls", [&](std::string_view k, od::value val) -> Result<void> {
        if (iequals(k, "name")) {
          name = BERTH_TRY(json::get_string(val, "name"));
        } else if (iequals(k, "names")) {
          r.names = BERTH_TRY(json::get_string_array(val, "names"));
        } else if (iequals(k, "action")) {
          action = BERTH_TRY(json::get_string(val, "action"));
        } else if (iequals(k, "errnoRet")) {
          r.errno_ret = BERTH_TRY(parse_errno(val, "errnoRet"));
        } else if (iequals(k, "args")) {
          BERTH_TRY(for_each_element(val, "args", [&](od::value a) -> Result<void> {
            r.args.push_back(BERTH_TRY(parse_arg(a)));
            return {};
          }));
        } else if (iequals(k, "includes")) {
          r.includes = BERTH_TRY(parse_condition(val, "includes"));
        } else if (iequals(k, "excludes")) {
          r.excludes = BERTH_TRY(parse_condition(val, "excludes"));
        }
        return {};
      }));
  if (!name.empty()) {
    if (!r.names.empty()) return std::unexpected(invalid("use either 'name' or 'names'"));
    r.names.push_back(std::move(name));
  }
  r.action = BERTH_TRY(parse_action(action));
  return r;
}

// Exact name -> number, as docker compares the bounding list's strings.
std::optional<int> exact_cap_number(std::string_view name) {
  for (int i = 0; i <= max_named_cap; ++i)
    if (capability_name(i) == name) return i;
  return std::nullopt;
}

bool contains_str(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool held(const std::string& cap, CapMask bounding) {
  auto n = exact_cap_number(cap);
  return n && (bounding & cap_bit(*n));
}

}  // namespace

std::optional<KernelVersion> parse_kernel_release(std::string_view release) {
  auto major_end = release.find('.');
  if (major_end == std::string_view::npos) return std::nullopt;
  auto major = parse_number<unsigned>(release.substr(0, major_end));
  auto rest = release.substr(major_end + 1);
  size_t n = 0;
  while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
  auto minor = parse_number<unsigned>(rest.substr(0, n));
  if (!major || !minor) return std::nullopt;
  return KernelVersion{*major, *minor};
}

Result<SeccompProfile> parse_seccomp_profile(std::string_view text) {
  if (trim(text).empty()) return decoding_failed(invalid("the profile is empty"));
  auto parsed = json::parse(text);
  if (!parsed) return decoding_failed(parsed.error());
  SeccompProfile p;
  std::string default_action;
  std::string listener_path;
  auto r =
      json::for_each_root_field(**parsed, [&](std::string_view k, od::value val) -> Result<void> {
        if (iequals(k, "defaultAction")) {
          default_action = BERTH_TRY(json::get_string(val, "defaultAction"));
        } else if (iequals(k, "defaultErrnoRet")) {
          p.default_errno_ret = BERTH_TRY(parse_errno(val, "defaultErrnoRet"));
        } else if (iequals(k, "architectures")) {
          p.architectures = BERTH_TRY(json::get_string_array(val, "architectures"));
        } else if (iequals(k, "flags")) {
          p.flags = BERTH_TRY(json::get_string_array(val, "flags"));
        } else if (iequals(k, "listenerPath")) {
          listener_path = BERTH_TRY(json::get_string(val, "listenerPath"));
        } else if (iequals(k, "archMap")) {
          BERTH_TRY(for_each_element(val, "archMap", [&](od::value m) -> Result<void> {
            SeccompArchMap am;
            BERTH_TRY(json::for_each_field(
                m, "archMap", [&](std::string_view mk, od::value mv) -> Result<void> {
                  if (iequals(mk, "architecture"))
                    am.arch = BERTH_TRY(json::get_string(mv, "architecture"));
                  else if (iequals(mk, "subArchitectures"))
                    am.sub_arches = BERTH_TRY(json::get_string_array(mv, "subArchitectures"));
                  return {};
                }));
            p.arch_map.push_back(std::move(am));
            return {};
          }));
        } else if (iequals(k, "syscalls")) {
          BERTH_TRY(for_each_element(val, "syscalls", [&](od::value s) -> Result<void> {
            p.syscalls.push_back(BERTH_TRY(parse_rule(s)));
            return {};
          }));
        }
        return {};
      });
  if (!r) return decoding_failed(r.error());
  if (!default_action.empty()) {
    auto a = parse_action(default_action);
    if (!a) return decoding_failed(a.error());
    p.default_action = *a;
  }
  if (!p.architectures.empty() && !p.arch_map.empty())
    return fail(Errc::invalid_argument,
                "both 'architectures' and 'archMap' are specified in the seccomp profile, use "
                "either 'architectures' or 'archMap'");
  if (!listener_path.empty())
    return fail(Errc::not_implemented, "seccomp notify (listenerPath) is not supported");
  for (const auto& rule : p.syscalls) {
    for (const auto* cond : {&rule.includes, &rule.excludes})
      for (const auto& cap : cond->caps)
        if (auto n = exact_cap_number(cap)) p.referenced_caps |= cap_bit(*n);
  }
  return p;
}

const SeccompTarget& SeccompTarget::host() {
  static const SeccompTarget target = [] {
    SeccompTarget t;
#if defined(__x86_64__)
    t.go_arch = "amd64";
#elif defined(__aarch64__)
    t.go_arch = "arm64";
#elif defined(__i386__)
    t.go_arch = "386";
#elif defined(__arm__)
    t.go_arch = "arm";
#elif defined(__s390x__)
    t.go_arch = "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    t.go_arch = "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
    t.go_arch = "riscv64";
#elif defined(__loongarch64)
    t.go_arch = "loong64";
#else
    t.go_arch = "unknown";
#endif
    struct utsname u {};
    if (::uname(&u) == 0)
      if (auto k = parse_kernel_release(u.release)) t.kernel = *k;
    return t;
  }();
  return target;
}

std::vector<std::string> select_arches(const SeccompProfile& profile, const SeccompTarget& target) {
  if (!profile.architectures.empty()) return profile.architectures;
  // moby's nativeToSeccomp.
  static constexpr std::pair<std::string_view, std::string_view> native[] = {
      {"amd64", "SCMP_ARCH_X86_64"},      {"386", "SCMP_ARCH_X86"},
      {"arm64", "SCMP_ARCH_AARCH64"},     {"arm", "SCMP_ARCH_ARM"},
      {"mips64", "SCMP_ARCH_MIPS64"},     {"mips64n32", "SCMP_ARCH_MIPS64N32"},
      {"mipsel64", "SCMP_ARCH_MIPSEL64"}, {"mipsel64n32", "SCMP_ARCH_MIPSEL64N32"},
      {"mipsle", "SCMP_ARCH_MIPSEL"},     {"ppc", "SCMP_ARCH_PPC"},
      {"ppc64", "SCMP_ARCH_PPC64"},       {"ppc64le", "SCMP_ARCH_PPC64LE"},
      {"riscv64", "SCMP_ARCH_RISCV64"},   {"s390", "SCMP_ARCH_S390"},
      {"s390x", "SCMP_ARCH_S390X"},       {"loong64", "SCMP_ARCH_LOONGARCH64"},
  };
  std::vector<std::string> out;
  for (auto [go, scmp] : native) {
    if (go != target.go_arch) continue;
    for (const auto& m : profile.arch_map) {
      if (m.arch != scmp) continue;
      out.push_back(m.arch);
      out.insert(out.end(), m.sub_arches.begin(), m.sub_arches.end());
      break;
    }
  }
  return out;
}

std::vector<const SeccompRule*> select_rules(const SeccompProfile& profile, CapMask bounding,
                                             const SeccompTarget& target) {
  std::vector<const SeccompRule*> out;
  for (const auto& r : profile.syscalls) {
    if (!r.excludes.arches.empty() && contains_str(r.excludes.arches, target.go_arch)) continue;
    if (!r.includes.arches.empty() && !contains_str(r.includes.arches, target.go_arch)) continue;
    if (!r.excludes.caps.empty() &&
        std::any_of(r.excludes.caps.begin(), r.excludes.caps.end(),
                    [&](const std::string& c) { return held(c, bounding); }))
      continue;
    if (!r.includes.caps.empty() &&
        !std::all_of(r.includes.caps.begin(), r.includes.caps.end(),
                     [&](const std::string& c) { return held(c, bounding); }))
      continue;
    if (r.excludes.min_kernel && target.kernel >= *r.excludes.min_kernel) continue;
    if (r.includes.min_kernel && target.kernel < *r.includes.min_kernel) continue;
    out.push_back(&r);
  }
  return out;
}

}  // namespace berth::core::runtime
