#include "core/runtime/caps.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>

#include <cstdio>

#include "core/runtime/user.h"
#include "core/sys/host.h"
#include "tests/core/security_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::core::runtime {
namespace {

using Names = std::vector<std::string>;

// A host with every capability up to 40 (CAP_CHECKPOINT_RESTORE).
CapabilityHost full_host() {
  return CapabilityHost::parse("40\n", "Name:\tx\nCapEff:\t000001ffffffffff\n");
}

Names docker_defaults() {
  return {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
          "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
          "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
          "CAP_KILL",    "CAP_AUDIT_WRITE"};
}

Result<CapMask> tweak(const Names& add, const Names& drop, bool privileged = false,
                      const CapabilityHost& host = full_host()) {
  return tweak_capabilities(default_capabilities(), add, drop, privileged, host);
}

TEST(Caps, NamesAndNumbers) {
  EXPECT_EQ(capability_name(0), "CAP_CHOWN");
  EXPECT_EQ(capability_name(21), "CAP_SYS_ADMIN");
  EXPECT_EQ(capability_name(40), "CAP_CHECKPOINT_RESTORE");
  EXPECT_EQ(capability_name(41), "");
  EXPECT_EQ(capability_name(-1), "");
  for (int i = 0; i <= max_named_cap; ++i) EXPECT_EQ(capability_number(capability_name(i)), i) << i;
  // The numbers are the kernel's.
  EXPECT_EQ(capability_number("CAP_NET_ADMIN"), CAP_NET_ADMIN);
  EXPECT_EQ(capability_number("CAP_BPF"), CAP_BPF);
  // docker accepts any case, with or without the prefix.
  for (const char* n : {"net_admin", "NET_ADMIN", "cap_net_admin", "Cap_Net_Admin"})
    EXPECT_EQ(capability_number(n), CAP_NET_ADMIN) << n;
  EXPECT_EQ(capability_number("ALL"), std::nullopt);
  EXPECT_EQ(capability_number("foo"), std::nullopt);
  EXPECT_EQ(capability_number(""), std::nullopt);
  EXPECT_EQ(normalize_capability("all"), "ALL");
  EXPECT_EQ(normalize_capability("chown"), "CAP_CHOWN");
  EXPECT_EQ(normalize_capability("CAP_chown"), "CAP_CHOWN");

  EXPECT_EQ(capability_names(cap_bit(CAP_KILL) | cap_bit(CAP_CHOWN)),
            (Names{"CAP_CHOWN", "CAP_KILL"}));
  auto bad = capability_mask(Names{"chown", "nope"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "unknown capability: \"CAP_NOPE\"");
}

TEST(Caps, DefaultSetIsDockers) {
  Names got = capability_names(default_capabilities());
  Names want = docker_defaults();
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST(Caps, HostParsing) {
  auto h = full_host();
  EXPECT_EQ(h.last_cap, 40);
  EXPECT_EQ(h.available, (CapMask{1} << 41) - 1);
  EXPECT_EQ(h.kernel_mask(), (CapMask{1} << 41) - 1);

  // An older kernel: nothing above its last cap is available.
  auto old = CapabilityHost::parse("37", "CapEff:\t0000003fffffffff\n");
  EXPECT_EQ(old.last_cap, 37);
  EXPECT_FALSE(old.available & cap_bit(CAP_PERFMON));
  EXPECT_TRUE(old.available & cap_bit(CAP_AUDIT_READ));

  // A daemon without CAP_SYS_RESOURCE (bit 24) in its effective set.
  auto restricted = CapabilityHost::parse("40", "CapEff:\t000001fffeffffff\n");
  EXPECT_FALSE(restricted.available & cap_bit(CAP_SYS_RESOURCE));
  EXPECT_TRUE(restricted.available & cap_bit(CAP_SYS_ADMIN));

  // A kernel newer than berth: the unnamed numbers are known to the kernel
  // (and dropped from the bounding set) but never granted.
  auto newer = CapabilityHost::parse("43", "CapEff:\t00000fffffffffff\n");
  EXPECT_EQ(newer.kernel_mask(), (CapMask{1} << 44) - 1);
  EXPECT_EQ(newer.available, (CapMask{1} << 41) - 1);

  // Unreadable files fall back to the header's last cap and all names.
  auto none = CapabilityHost::parse("", "");
  EXPECT_EQ(none.last_cap, CAP_LAST_CAP);

  // This process.
  const auto& cur = CapabilityHost::current();
  int kernel_last = std::atoi(sys::read_small_file("/proc/sys/kernel/cap_last_cap").c_str());
  EXPECT_EQ(cur.last_cap, kernel_last);
}

TEST(Caps, TweakNothing) {
  EXPECT_EQ(tweak({}, {}).value(), default_capabilities());
}

TEST(Caps, TweakAddAndDrop) {
  EXPECT_EQ(tweak({"NET_ADMIN"}, {}).value(), default_capabilities() | cap_bit(CAP_NET_ADMIN));
  EXPECT_EQ(tweak({"cap_sys_admin", "sys_ptrace"}, {}).value(),
            default_capabilities() | cap_bit(CAP_SYS_ADMIN) | cap_bit(CAP_SYS_PTRACE));
  EXPECT_EQ(tweak({}, {"chown", "CAP_MKNOD"}).value(),
            default_capabilities() & ~cap_bit(CAP_CHOWN) & ~cap_bit(CAP_MKNOD));
  // Dropping what is not there is fine.
  EXPECT_EQ(tweak({}, {"SYS_ADMIN"}).value(), default_capabilities());
  // Named in both lists: docker drops from the defaults, then adds.
  EXPECT_EQ(tweak({"NET_ADMIN"}, {"NET_ADMIN"}).value(),
            default_capabilities() | cap_bit(CAP_NET_ADMIN));
  EXPECT_EQ(tweak({"CHOWN"}, {"CHOWN"}).value(), default_capabilities());
}

TEST(Caps, TweakAll) {
  const CapMask all = full_host().available;
  // ALL added: everything but the drops (a drop wins here).
  EXPECT_EQ(tweak({"ALL"}, {}).value(), all);
  EXPECT_EQ(tweak({"all"}, {"NET_ADMIN", "sys_admin"}).value(),
            all & ~cap_bit(CAP_NET_ADMIN) & ~cap_bit(CAP_SYS_ADMIN));
  // ALL dropped: exactly the adds.
  EXPECT_EQ(tweak({}, {"ALL"}).value(), 0u);
  EXPECT_EQ(tweak({"chown", "NET_BIND_SERVICE"}, {"ALL"}).value(),
            cap_bit(CAP_CHOWN) | cap_bit(CAP_NET_BIND_SERVICE));
  // Both: the add case comes first in docker, and "ALL" names no capability.
  EXPECT_EQ(tweak({"ALL"}, {"ALL"}).value(), all);
  EXPECT_EQ(tweak({"ALL"}, {"ALL", "KILL"}).value(), all & ~cap_bit(CAP_KILL));
}

TEST(Caps, TweakPrivileged) {
  EXPECT_EQ(tweak({}, {}, true).value(), full_host().available);
  // CapAdd/CapDrop are not even looked at.
  EXPECT_EQ(tweak({"bogus"}, {"ALL"}, true).value(), full_host().available);
  // What the daemon lacks, a privileged container does not get.
  auto restricted = CapabilityHost::parse("40", "CapEff:\t000001fffeffffff\n");
  EXPECT_EQ(tweak({}, {}, true, restricted).value(), restricted.available);
}

TEST(Caps, TweakErrors) {
  auto r = tweak({"foo"}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message, "unknown capability: \"CAP_FOO\"");
  r = tweak({}, {"CAP_FOO"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "unknown capability: \"CAP_FOO\"");
  // The drop list is checked first, as in docker.
  r = tweak({"bar"}, {"baz"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "unknown capability: \"CAP_BAZ\"");
  // Known to berth, not available here.
  auto restricted = CapabilityHost::parse("40", "CapEff:\t000001fffeffffff\n");
  r = tweak({"SYS_RESOURCE"}, {}, false, restricted);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "capability not supported by your kernel or not available in the current "
            "environment: \"CAP_SYS_RESOURCE\"");
  auto old = CapabilityHost::parse("37", "");
  r = tweak({"bpf"}, {}, false, old);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("\"CAP_BPF\""), std::string::npos);
  // Nothing to tweak: nothing is validated (docker returns early).
  EXPECT_TRUE(tweak({}, {}, false, old));
}

TEST(Caps, SetsForRoot) {
  auto host = full_host();
  CapSets s = container_cap_sets(default_capabilities(), 0, host);
  EXPECT_EQ(s.bounding, default_capabilities());
  EXPECT_EQ(s.effective, default_capabilities());
  EXPECT_EQ(s.permitted, default_capabilities());
  EXPECT_EQ(s.inheritable, 0u);
  EXPECT_EQ(s.ambient, 0u);
  EXPECT_EQ(s.ambient_raise_count, 0);
  // Every other capability the kernel knows is dropped from the bounding
  // set, in order.
  ASSERT_EQ(s.bounding_drop_count, 41 - 14);
  CapMask dropped = 0;
  for (int i = 0; i < s.bounding_drop_count; ++i) {
    if (i) {
      EXPECT_LT(s.bounding_drop[i - 1], s.bounding_drop[i]);
    }
    dropped |= cap_bit(s.bounding_drop[i]);
  }
  EXPECT_EQ(dropped, host.kernel_mask() & ~default_capabilities());
}

TEST(Caps, SetsForNonRoot) {
  // docker: only the bounding set for uid != 0, as execve would leave it.
  CapSets s =
      container_cap_sets(default_capabilities() | cap_bit(CAP_NET_ADMIN), 1000, full_host());
  EXPECT_EQ(s.bounding, default_capabilities() | cap_bit(CAP_NET_ADMIN));
  EXPECT_EQ(s.effective, 0u);
  EXPECT_EQ(s.permitted, 0u);
  EXPECT_EQ(s.inheritable, 0u);
  EXPECT_EQ(s.ambient, 0u);
}

TEST(Caps, SetsRespectKernelAndDaemon) {
  // Bits above the kernel's last cap are ignored (runc warns and drops them).
  auto old = CapabilityHost::parse("37", "");
  CapSets s = container_cap_sets(~CapMask{0}, 0, old);
  EXPECT_EQ(s.bounding, old.kernel_mask());
  EXPECT_EQ(s.bounding_drop_count, 0);
  // The daemon cannot grant what it lacks; the bounding set may still list it.
  auto restricted = CapabilityHost::parse("40", "CapEff:\t000001fffeffffff\n");
  s = container_cap_sets(cap_bit(CAP_SYS_RESOURCE) | cap_bit(CAP_KILL), 0, restricted);
  EXPECT_EQ(s.bounding, cap_bit(CAP_SYS_RESOURCE) | cap_bit(CAP_KILL));
  EXPECT_EQ(s.effective, cap_bit(CAP_KILL));
  // Ambient raise list from explicit sets.
  s = make_cap_sets(default_capabilities(), cap_bit(CAP_KILL), cap_bit(CAP_KILL), cap_bit(CAP_KILL),
                    cap_bit(CAP_KILL), full_host());
  ASSERT_EQ(s.ambient_raise_count, 1);
  EXPECT_EQ(s.ambient_raise[0], CAP_KILL);
}

// Real kernel: the child's /proc/self/status after applying the sets.
std::string child_status(const CapSets& sets, const ExecUser* user) {
  return testing::run_in_child([&]() -> std::string {
    if (int err = drop_bounding_in_child(sets)) return "drop: " + std::to_string(err);
    if (user)
      if (int err = apply_in_child(*user)) return "user: " + std::to_string(err);
    if (int err = set_in_child(sets)) return "set: " + std::to_string(err);
    return sys::read_small_file("/proc/self/status");
  });
}

std::string hex16(CapMask m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(m));
  return buf;
}

TEST(Caps, AppliesOnTheKernelAsRoot) {
  BERTH_REQUIRE_ROOT();
  const auto& host = CapabilityHost::current();
  if ((host.available & default_capabilities()) != default_capabilities())
    GTEST_SKIP() << "the test process lacks some of docker's default capabilities";
  CapSets sets = container_cap_sets(default_capabilities(), 0, host);
  std::string st = child_status(sets, nullptr);
  ASSERT_EQ(testing::status_field(st, "CapBnd"), hex16(default_capabilities())) << st;
  EXPECT_EQ(testing::status_field(st, "CapEff"), hex16(default_capabilities()));
  EXPECT_EQ(testing::status_field(st, "CapPrm"), hex16(default_capabilities()));
  EXPECT_EQ(testing::status_field(st, "CapInh"), hex16(0));
  EXPECT_EQ(testing::status_field(st, "CapAmb"), hex16(0));
}

TEST(Caps, AppliesOnTheKernelAsNonRoot) {
  BERTH_REQUIRE_ROOT();
  const auto& host = CapabilityHost::current();
  CapMask caps = default_capabilities() & host.available;
  CapSets sets = container_cap_sets(caps, 1000, host);
  ExecUser user{1000, 1000, {1000, 44, 50}, "/home/u"};
  std::string st = child_status(sets, &user);
  ASSERT_EQ(testing::status_field(st, "CapBnd"), hex16(caps)) << st;
  EXPECT_EQ(testing::status_field(st, "CapEff"), hex16(0));
  EXPECT_EQ(testing::status_field(st, "CapPrm"), hex16(0));
  EXPECT_EQ(testing::status_field(st, "Uid"), "1000\t1000\t1000\t1000");
  EXPECT_EQ(testing::status_field(st, "Gid"), "1000\t1000\t1000\t1000");
  EXPECT_EQ(testing::status_field(st, "Groups"), "44 50 1000 ");
}

TEST(Caps, AmbientOnTheKernel) {
  BERTH_REQUIRE_ROOT();
  const auto& host = CapabilityHost::current();
  if (!(host.available & cap_bit(CAP_NET_BIND_SERVICE))) GTEST_SKIP() << "no NET_BIND_SERVICE";
  // Not what docker does, but the struct supports it: a non-root process
  // keeping NET_BIND_SERVICE across execve through the ambient set.
  CapMask c = cap_bit(CAP_NET_BIND_SERVICE);
  CapSets sets = make_cap_sets(default_capabilities(), c, c, c, c, host);
  ExecUser user{1000, 1000, {1000}, "/"};
  std::string st = child_status(sets, &user);
  ASSERT_EQ(testing::status_field(st, "CapAmb"), hex16(c)) << st;
  EXPECT_EQ(testing::status_field(st, "CapEff"), hex16(c));
}

}  // namespace
}  // namespace berth::core::runtime
