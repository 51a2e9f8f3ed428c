#include "core/runtime/seccomp.h"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/base/strings.h"
#include "core/base/unique_fd.h"

namespace berth::core::runtime {

namespace {

struct CtxRelease {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxRelease>;

Error seccomp_error(int rc, std::string_view what) {
  // libseccomp returns -errno.
  return sys_error(-rc, str_cat("seccomp: ", what));
}

uint32_t action_value(SeccompAction a, std::optional<unsigned> errno_ret) {
  switch (a) {
    case SeccompAction::kill_thread: return SCMP_ACT_KILL_THREAD;
    case SeccompAction::kill_process: return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::trap: return SCMP_ACT_TRAP;
    case SeccompAction::errno_ret: return SCMP_ACT_ERRNO(errno_ret.value_or(EPERM));
    case SeccompAction::trace: return SCMP_ACT_TRACE(errno_ret.value_or(EPERM));
    case SeccompAction::allow: return SCMP_ACT_ALLOW;
    case SeccompAction::log: return SCMP_ACT_LOG;
    case SeccompAction::notify: return SCMP_ACT_NOTIFY;
  }
  return SCMP_ACT_KILL_PROCESS;
}

scmp_compare compare_op(SeccompOp op) {
  switch (op) {
    case SeccompOp::ne: return SCMP_CMP_NE;
    case SeccompOp::lt: return SCMP_CMP_LT;
    case SeccompOp::le: return SCMP_CMP_LE;
    case SeccompOp::eq: return SCMP_CMP_EQ;
    case SeccompOp::ge: return SCMP_CMP_GE;
    case SeccompOp::gt: return SCMP_CMP_GT;
    case SeccompOp::masked_eq: return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

// "SCMP_ARCH_X86_64" -> libseccomp's token for "x86_64".
Result<uint32_t> arch_token(std::string_view name) {
  std::string_view bare = name;
  if (bare.starts_with("SCMP_ARCH_")) bare.remove_prefix(10);
  uint32_t token = seccomp_arch_resolve_name(to_lower(bare).c_str());
  if (token == 0)
    return fail(Errc::invalid_argument, str_cat("seccomp: unknown architecture \"", name, "\""));
  return token;
}

Result<unsigned> filter_flags(const std::vector<std::string>& flags) {
  unsigned out = 0;
  for (const auto& f : flags) {
    if (f == "SECCOMP_FILTER_FLAG_TSYNC") continue;  // one thread: nothing to sync
    if (f == "SECCOMP_FILTER_FLAG_LOG")
      out |= SECCOMP_FILTER_FLAG_LOG;
    else if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
      out |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else
      return fail(Errc::invalid_argument, str_cat("seccomp: unknown flag \"", f, "\""));
  }
  return out;
}

Result<void> add_rule(void* ctx, const SeccompRule& rule, const std::string& name, int nr,
                      uint32_t action) {
  auto add = [&](const scmp_arg_cmp* conds, unsigned n) -> Result<void> {
    int rc = seccomp_rule_add_array(ctx, action, nr, n, conds);
    if (rc != 0) return std::unexpected(seccomp_error(rc, str_cat("add rule for ", name)));
    return {};
  };
  if (rule.args.empty()) return add(nullptr, 0);
  std::vector<scmp_arg_cmp> conds;
  std::array<unsigned, 6> per_index{};
  bool repeated = false;
  for (const auto& a : rule.args) {
    conds.push_back(scmp_arg_cmp{a.index, compare_op(a.op), a.value, a.value_two});
    repeated |= ++per_index[a.index] > 1;
  }
  // runc: the same argument twice can only mean "any of these" (one rule
  // each); otherwise all conditions hold together.
  if (repeated) {
    for (const auto& c : conds) BERTH_TRY(add(&c, 1));
    return {};
  }
  return add(conds.data(), static_cast<unsigned>(conds.size()));
}

Result<std::vector<sock_filter>> export_bpf(void* ctx) {
  unique_fd fd(::memfd_create("berth-seccomp", MFD_CLOEXEC));
  if (!fd) return sys_fail(errno, "seccomp: memfd_create");
  if (int rc = seccomp_export_bpf(ctx, fd.get()); rc != 0)
    return std::unexpected(seccomp_error(rc, "export BPF"));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return sys_fail(errno, "seccomp: stat exported BPF");
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0 || size % sizeof(sock_filter) != 0)
    return fail(Errc::internal, str_cat("seccomp: exported BPF has an odd size ", size));
  if (size / sizeof(sock_filter) > BPF_MAXINSNS)
    return fail(Errc::invalid_argument,
                str_cat("seccomp: the filter has ", size / sizeof(sock_filter),
                        " instructions, more than the kernel's ", BPF_MAXINSNS));
  std::vector<sock_filter> out(size / sizeof(sock_filter));
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd.get(), reinterpret_cast<char*>(out.data()) + done, size - done,
                        static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return sys_fail(n < 0 ? errno : EIO, "seccomp: read exported BPF");
    done += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace

Result<SeccompProgram> compile_seccomp(const SeccompProfile& profile, CapMask bounding,
                                       const SeccompTarget& target) {
  SeccompProgram program;
  if (!profile.default_action) {
    if (profile.syscalls.empty()) return program;  // docker: seccomp disabled
    return fail(Errc::invalid_argument, "seccomp: the profile has syscalls but no defaultAction");
  }
  program.flags = BERTH_TRY(filter_flags(profile.flags));
  uint32_t default_action = action_value(*profile.default_action, profile.default_errno_ret);
  if (*profile.default_action == SeccompAction::notify)
    return fail(Errc::not_implemented, "seccomp: SCMP_ACT_NOTIFY is not supported");

  Ctx ctx(seccomp_init(default_action));
  if (!ctx) return fail(Errc::internal, "seccomp: seccomp_init failed");
  // berth sets no_new_privs itself when asked; a filter never does.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); rc != 0)
    return std::unexpected(seccomp_error(rc, "clear the NNP attribute"));
  // A binary tree of syscall numbers: a lookup costs ~log2(n) comparisons
  // instead of a linear walk of the ~400 allowed syscalls on every call.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc != 0)
    return std::unexpected(seccomp_error(rc, "set the optimization level"));
  for (const auto& arch : select_arches(profile, target)) {
    uint32_t token = BERTH_TRY(arch_token(arch));
    int rc = seccomp_arch_add(ctx.get(), token);
    if (rc != 0 && rc != -EEXIST)
      return std::unexpected(seccomp_error(rc, str_cat("add architecture ", arch)));
  }

  for (const SeccompRule* rule : select_rules(profile, bounding, target)) {
    if (rule->action == SeccompAction::notify)
      return fail(Errc::not_implemented, "seccomp: SCMP_ACT_NOTIFY is not supported");
    uint32_t action = action_value(rule->action, rule->errno_ret);
    if (action == default_action) continue;
    for (const auto& name : rule->names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown to libseccomp: skipped, as runc does
      BERTH_TRY(add_rule(ctx.get(), *rule, name, nr, action));
    }
  }
  program.filter = BERTH_TRY(export_bpf(ctx.get()));
  return program;
}

int apply_in_child(const SeccompProgram& program) noexcept {
  if (program.unconfined()) return 0;
  sock_fprog prog = program.fprog();
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &prog) != 0) return errno;
  return 0;
}

}  // namespace berth::core::runtime
