#include "core/runtime/seccomp.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "core/base/strings.h"
#include "core/runtime/seccomp_cache.h"
#include "core/sys/host.h"
#include "tests/core/security_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::core::runtime {
namespace {

const SeccompProfile& default_profile() {
  static const SeccompProfile p = [] {
    auto r = parse_seccomp_profile(default_seccomp_profile_json());
    if (!r) throw std::runtime_error(r.error().message);
    return *r;
  }();
  return p;
}

SeccompTarget amd64(unsigned major = 6, unsigned minor = 1) {
  return SeccompTarget{"amd64", {major, minor}};
}

CapMask all_caps() {
  return (CapMask{1} << (max_named_cap + 1)) - 1;
}

bool has_rule_for(const std::vector<const SeccompRule*>& rules, std::string_view name,
                  SeccompAction action) {
  for (const auto* r : rules)
    if (r->action == action && std::find(r->names.begin(), r->names.end(), name) != r->names.end())
      return true;
  return false;
}

TEST(Seccomp, EmbeddedProfileIsTheReference) {
  std::string ref = sys::read_small_file(testing::source_dir() +
                                         "/../shared/reference/docker-default-seccomp.json");
  if (ref.empty()) GTEST_SKIP() << "no reference copy next to the source tree";
  EXPECT_EQ(default_seccomp_profile_json(), ref);
}

TEST(Seccomp, ParsesDockersDefault) {
  const auto& p = default_profile();
  ASSERT_TRUE(p.default_action);
  EXPECT_EQ(*p.default_action, SeccompAction::errno_ret);
  EXPECT_EQ(p.default_errno_ret, 1u);
  EXPECT_GE(p.arch_map.size(), 3u);
  EXPECT_GT(p.syscalls.size(), 20u);
  EXPECT_GT(p.syscalls[0].names.size(), 300u);
  EXPECT_EQ(p.syscalls[0].action, SeccompAction::allow);
  for (int cap : {CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_BOOT, CAP_SYS_MODULE, CAP_BPF, CAP_PERFMON,
                  CAP_DAC_READ_SEARCH})
    EXPECT_TRUE(p.referenced_caps & cap_bit(cap)) << cap;
  EXPECT_FALSE(p.referenced_caps & cap_bit(CAP_NET_ADMIN));
  EXPECT_FALSE(p.referenced_caps & cap_bit(CAP_CHOWN));
}

TEST(Seccomp, ArchitecturesFromTheArchMap) {
  const auto& p = default_profile();
  EXPECT_EQ(select_arches(p, amd64()),
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_EQ(select_arches(p, SeccompTarget{"arm64", {6, 1}}),
            (std::vector<std::string>{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
  EXPECT_EQ(select_arches(p, SeccompTarget{"riscv64", {6, 1}}),
            (std::vector<std::string>{"SCMP_ARCH_RISCV64"}));
  EXPECT_EQ(SeccompTarget::host().go_arch.empty(), false);
}

TEST(Seccomp, RuleSelectionFollowsDocker) {
  const auto& p = default_profile();
  auto def = select_rules(p, default_capabilities(), amd64());
  auto all = select_rules(p, all_caps(), amd64());
  // CAP_SYS_ADMIN's syscalls only with CAP_SYS_ADMIN.
  EXPECT_FALSE(has_rule_for(def, "mount", SeccompAction::allow));
  EXPECT_TRUE(has_rule_for(all, "mount", SeccompAction::allow));
  EXPECT_FALSE(has_rule_for(def, "unshare", SeccompAction::allow));
  // clone3 answers ENOSYS without CAP_SYS_ADMIN (so glibc falls back to clone).
  EXPECT_TRUE(has_rule_for(def, "clone3", SeccompAction::errno_ret));
  EXPECT_FALSE(has_rule_for(all, "clone3", SeccompAction::errno_ret));
  // Per-arch rules: amd64 gets arch_prctl, arm64 does not.
  EXPECT_TRUE(has_rule_for(def, "arch_prctl", SeccompAction::allow));
  auto arm = select_rules(p, default_capabilities(), SeccompTarget{"arm64", {6, 1}});
  EXPECT_FALSE(has_rule_for(arm, "arch_prctl", SeccompAction::allow));
  EXPECT_TRUE(has_rule_for(arm, "cacheflush", SeccompAction::allow));
  // minKernel 4.8: ptrace for everyone on new kernels only.
  EXPECT_TRUE(has_rule_for(def, "ptrace", SeccompAction::allow));
  auto old = select_rules(p, default_capabilities(), amd64(4, 4));
  EXPECT_FALSE(has_rule_for(old, "ptrace", SeccompAction::allow));
  // Not in the profile at all: keyctl and io_uring.
  for (const char* name : {"keyctl", "add_key", "io_uring_setup", "io_uring_enter"})
    EXPECT_FALSE(has_rule_for(all, name, SeccompAction::allow)) << name;
}

TEST(Seccomp, CompilesTheDefaultProfile) {
  auto def = compile_seccomp(default_profile(), default_capabilities(), amd64());
  ASSERT_TRUE(def) << def.error().message;
  auto all = compile_seccomp(default_profile(), all_caps(), amd64());
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_FALSE(def->unconfined());
  EXPECT_GT(def->filter.size(), 100u);
  EXPECT_LE(def->filter.size(), static_cast<size_t>(BPF_MAXINSNS));
  EXPECT_EQ(def->flags, 0u);
  EXPECT_NE(def->filter.size(), all->filter.size());
  sock_fprog f = def->fprog();
  EXPECT_EQ(f.len, def->filter.size());
  EXPECT_EQ(f.filter, def->filter.data());
  // The program starts by checking the architecture (seccomp_data.arch at
  // offset 4).
  EXPECT_EQ(def->filter[0].code, BPF_LD | BPF_W | BPF_ABS);
  EXPECT_EQ(def->filter[0].k, 4u);
  // Deterministic.
  auto again = compile_seccomp(default_profile(), default_capabilities(), amd64());
  ASSERT_TRUE(again);
  ASSERT_EQ(again->filter.size(), def->filter.size());
  EXPECT_EQ(0, std::memcmp(again->filter.data(), def->filter.data(),
                           def->filter.size() * sizeof(sock_filter)));
}

TEST(Seccomp, ProfileErrors) {
  struct Case {
    const char* json;
    const char* message_part;
  };
  const Case cases[] = {
      {"not json", "decoding seccomp profile failed"},
      {"", "decoding seccomp profile failed"},
      {R"({"defaultAction":"SCMP_ACT_NOPE"})", "invalid action \"SCMP_ACT_NOPE\""},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]})",
       "use either 'name' or 'names'"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]})",
       "both 'architectures' and 'archMap'"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_SOMETIMES"}]}]})",
       "invalid operator"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]})",
       "argument index 6"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]})",
       "invalid kernel version"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"0.0"}}]})",
       "invalid kernel version"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/x.sock"})", "not supported"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":"nope"})", "expected an array"},
  };
  for (const auto& c : cases) {
    auto r = parse_seccomp_profile(c.json);
    ASSERT_FALSE(r) << c.json;
    EXPECT_NE(r.error().message.find(c.message_part), std::string::npos)
        << c.json << " -> " << r.error().message;
  }
  // Compile-time errors.
  auto notify = parse_seccomp_profile(R"({"defaultAction":"SCMP_ACT_NOTIFY"})");
  ASSERT_TRUE(notify);
  EXPECT_FALSE(compile_seccomp(*notify, 0, amd64()));
  auto arch = parse_seccomp_profile(
      R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]})");
  ASSERT_TRUE(arch);
  auto r = compile_seccomp(*arch, 0, amd64());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("SCMP_ARCH_Z80"), std::string::npos);
  auto flag = parse_seccomp_profile(
      R"({"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NOPE"]})");
  ASSERT_TRUE(flag);
  EXPECT_FALSE(compile_seccomp(*flag, 0, amd64()));
}

TEST(Seccomp, UnconfinedAndFlags) {
  // No defaultAction and no syscalls: docker reads that as seccomp off.
  auto empty = parse_seccomp_profile("{}");
  ASSERT_TRUE(empty);
  auto prog = compile_seccomp(*empty, 0, amd64());
  ASSERT_TRUE(prog);
  EXPECT_TRUE(prog->unconfined());
  EXPECT_EQ(apply_in_child(*prog), 0);  // a no-op
  auto no_default =
      parse_seccomp_profile(R"({"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]})");
  ASSERT_TRUE(no_default);
  EXPECT_FALSE(compile_seccomp(*no_default, 0, amd64()));
  // Keys are matched case-insensitively; flags reach the program.
  auto flagged = parse_seccomp_profile(
      R"({"DEFAULTACTION":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_TSYNC"],"comment":{"ignored":[1,2]}})");
  ASSERT_TRUE(flagged) << flagged.error().message;
  auto fp = compile_seccomp(*flagged, 0, amd64());
  ASSERT_TRUE(fp);
  EXPECT_EQ(fp->flags, unsigned{SECCOMP_FILTER_FLAG_LOG});
}

TEST(Seccomp, CacheSharesPrograms) {
  SeccompCache cache(amd64());
  auto a = cache.get("", default_capabilities());
  ASSERT_TRUE(a) << a.error().message;
  auto b = cache.get("builtin", default_capabilities());
  ASSERT_TRUE(b);
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(cache.compiled(), 1u);
  // NET_ADMIN is not named by the profile: same program.
  auto c = cache.get("", default_capabilities() | cap_bit(CAP_NET_ADMIN));
  ASSERT_TRUE(c);
  EXPECT_EQ(a->get(), c->get());
  EXPECT_EQ(cache.compiled(), 1u);
  // SYS_ADMIN is: another one.
  auto d = cache.get("", default_capabilities() | cap_bit(CAP_SYS_ADMIN));
  ASSERT_TRUE(d);
  EXPECT_NE(a->get(), d->get());
  EXPECT_EQ(cache.compiled(), 2u);
  // Unconfined and privileged compile nothing.
  auto u = cache.get("unconfined", default_capabilities());
  ASSERT_TRUE(u);
  EXPECT_TRUE((*u)->unconfined());
  auto priv = cache.get("", all_caps(), true);
  ASSERT_TRUE(priv);
  EXPECT_TRUE((*priv)->unconfined());
  EXPECT_EQ(cache.compiled(), 2u);
  // The process-wide cache works too.
  auto s = SeccompCache::shared().get("", default_capabilities());
  ASSERT_TRUE(s);
  EXPECT_FALSE((*s)->unconfined());
}

TEST(Seccomp, CacheCustomProfiles) {
  SeccompCache cache(amd64(), 2);
  auto json = [](int n) {
    return str_cat(
        R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":)",
        n, "}]}");
  };
  auto p1 = cache.get(json(1), 0);
  ASSERT_TRUE(p1) << p1.error().message;
  auto p1again = cache.get(json(1), all_caps());  // the profile names no caps
  ASSERT_TRUE(p1again);
  EXPECT_EQ(p1->get(), p1again->get());
  EXPECT_EQ(cache.compiled(), 1u);
  ASSERT_TRUE(cache.get(json(2), 0));
  ASSERT_TRUE(cache.get(json(3), 0));  // forgets json(1)
  EXPECT_EQ(cache.compiled(), 3u);
  auto p1third = cache.get(json(1), 0);
  ASSERT_TRUE(p1third);
  EXPECT_EQ(cache.compiled(), 4u);
  // The first program is still alive for its holder.
  EXPECT_FALSE((*p1)->unconfined());
  // Errors are not cached.
  EXPECT_FALSE(cache.get("{not json", 0));
  EXPECT_FALSE(cache.get("{not json", 0));
}

TEST(Seccomp, CacheIsThreadSafe) {
  SeccompCache cache(amd64());
  std::atomic<const SeccompProgram*> seen[2] = {nullptr, nullptr};
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        int which = (i + t) % 2;
        CapMask caps = default_capabilities() | (which ? cap_bit(CAP_SYS_ADMIN) : 0);
        auto p = cache.get("", caps);
        if (!p) {
          ++failures;
          continue;
        }
        const SeccompProgram* expected = nullptr;
        if (!seen[which].compare_exchange_strong(expected, p->get()) && expected != p->get())
          ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_LE(cache.compiled(), 16u);  // at most one compile per racing thread and key
}

// Real kernel: installs a program in a forked child and reports what some
// syscalls return ("name=errno" lines; 0 = it worked).
std::string probe(const SeccompProgram& program) {
  return testing::run_in_child([&]() -> std::string {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "nnp failed";
    if (int err = apply_in_child(program)) return str_cat("apply failed: ", err);
    std::string out;
    auto report = [&](const char* name, long rc) {
      str_append(out, name, "=", rc < 0 ? errno : 0, "\n");
    };
    report("getpid", ::syscall(SYS_getpid));
    report("keyctl", ::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    report("mount", ::syscall(SYS_mount, "none", "/nonexistent-berth-dir", "tmpfs", 0, nullptr));
    io_uring_params params{};
    long ring = ::syscall(SYS_io_uring_setup, 1, &params);
    report("io_uring_setup", ring);
    if (ring >= 0) ::close(static_cast<int>(ring));
    uint64_t args[11] = {};  // struct clone_args
    // Size 0: EINVAL from the kernel when the filter lets it through, so it
    // never forks.
    report("clone3", ::syscall(SYS_clone3, args, 0));
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    report("socket_unix", s);
    if (s >= 0) ::close(s);
    s = ::socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
    report("socket_vsock", s);
    if (s >= 0) ::close(s);
    report("personality_query", ::personality(0xffffffff));
    report("personality_set", ::personality(ADDR_NO_RANDOMIZE));
    char cwd[256];
    report("getcwd", ::syscall(SYS_getcwd, cwd, sizeof cwd));
    return out;
  });
}

std::string field(const std::string& out, const std::string& name) {
  auto pos = out.find(name + "=");
  if (pos == std::string::npos) return "missing: " + out;
  auto end = out.find('\n', pos);
  return out.substr(pos + name.size() + 1, end - pos - name.size() - 1);
}

TEST(Seccomp, DefaultProfileOnTheKernel) {
  auto prog = compile_seccomp(default_profile(), default_capabilities());
  ASSERT_TRUE(prog) << prog.error().message;
  std::string out = probe(*prog);
  SCOPED_TRACE(out);
  EXPECT_EQ(field(out, "getpid"), "0");
  EXPECT_EQ(field(out, "keyctl"), std::to_string(EPERM));
  EXPECT_EQ(field(out, "mount"), std::to_string(EPERM));
  EXPECT_EQ(field(out, "io_uring_setup"), std::to_string(EPERM));
  EXPECT_EQ(field(out, "clone3"), std::to_string(ENOSYS));
  EXPECT_EQ(field(out, "socket_unix"), "0");
  EXPECT_EQ(field(out, "socket_vsock"), std::to_string(EPERM));
  EXPECT_EQ(field(out, "personality_query"), "0");
  EXPECT_EQ(field(out, "personality_set"), std::to_string(EPERM));
  EXPECT_EQ(field(out, "getcwd"), "0");
}

TEST(Seccomp, AllCapsProfileOnTheKernel) {
  auto prog = compile_seccomp(default_profile(), all_caps());
  ASSERT_TRUE(prog) << prog.error().message;
  std::string out = probe(*prog);
  SCOPED_TRACE(out);
  EXPECT_EQ(field(out, "getpid"), "0");
  // mount is allowed now: the kernel answers (no such mount point, or no
  // permission for an unprivileged test), not the filter's EPERM-by-default.
  if (::geteuid() == 0) {
    EXPECT_EQ(field(out, "mount"), std::to_string(ENOENT));
  }
  EXPECT_EQ(field(out, "clone3"), std::to_string(EINVAL));
  EXPECT_EQ(field(out, "keyctl"), std::to_string(EPERM));
  EXPECT_EQ(field(out, "io_uring_setup"), std::to_string(EPERM));
  EXPECT_EQ(field(out, "socket_vsock"), std::to_string(EPERM));  // not a capability's
}

TEST(Seccomp, CustomProfileOnTheKernel) {
  auto profile = parse_seccomp_profile(R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
      {"name": "getcwd", "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
      {"names": ["no_such_syscall_berth", "keyctl"], "action": "SCMP_ACT_ERRNO"},
      {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}
    ]})");
  ASSERT_TRUE(profile) << profile.error().message;
  auto prog = compile_seccomp(*profile, 0);
  ASSERT_TRUE(prog) << prog.error().message;
  std::string out = probe(*prog);
  SCOPED_TRACE(out);
  EXPECT_EQ(field(out, "getcwd"), "42");
  EXPECT_EQ(field(out, "keyctl"), std::to_string(EPERM));  // errnoRet defaults to EPERM
  EXPECT_EQ(field(out, "getpid"), "0");
  // The same argument twice: either value matches.
  EXPECT_EQ(field(out, "socket_unix"), "13");
  EXPECT_EQ(field(out, "socket_vsock"), "13");
}

}  // namespace
}  // namespace berth::core::runtime
