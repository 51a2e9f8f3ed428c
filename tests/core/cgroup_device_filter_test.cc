// The v2 device filter: the compiled eBPF program, run by a small
// interpreter of the instructions it uses, must give the verdict the v1
// kernel would (DeviceRuleSet::allows) for every device and access; and
// the kernel's verifier must accept it (root).
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "core/cgroup/devices.h"
#include "core/cgroup/v2/device_filter.h"
#include "tests/testlib/testlib.h"

namespace berth::core::cgroup {
namespace {

// Runs prog on bpf_cgroup_dev_ctx {access_type, major, minor}; returns r0.
// Fails the test on anything the compiler is not supposed to emit.
int64_t run(const std::vector<bpf_insn>& prog, uint32_t type, uint32_t access, uint32_t major,
            uint32_t minor) {
  uint32_t ctx[3] = {(access << 16) | type, major, minor};
  uint64_t reg[11] = {};
  size_t pc = 0;
  for (int steps = 0; steps < 10000; ++steps) {
    if (pc >= prog.size()) {
      ADD_FAILURE() << "ran off the end";
      return -1;
    }
    const bpf_insn& i = prog[pc++];
    uint64_t& dst = reg[i.dst_reg];
    uint64_t src = reg[i.src_reg];
    uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    switch (i.code) {
      case BPF_LDX | BPF_MEM | BPF_W:
        EXPECT_EQ(i.src_reg, 1);
        dst = ctx[i.off / 4];
        break;
      case BPF_ALU | BPF_AND | BPF_K: dst = static_cast<uint32_t>(dst & imm); break;
      case BPF_ALU | BPF_RSH | BPF_K: dst = static_cast<uint32_t>(dst) >> i.imm; break;
      case BPF_ALU | BPF_MOV | BPF_X: dst = static_cast<uint32_t>(src); break;
      case BPF_ALU | BPF_MOV | BPF_K: dst = static_cast<uint32_t>(i.imm); break;
      case BPF_JMP | BPF_JNE | BPF_K:
        if (dst != imm) pc += i.off;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        if (dst == imm) pc += i.off;
        break;
      case BPF_JMP | BPF_JNE | BPF_X:
        if (dst != src) pc += i.off;
        break;
      case BPF_JMP | BPF_EXIT: return static_cast<int64_t>(reg[0]);
      default: ADD_FAILURE() << "unexpected opcode " << int(i.code); return -1;
    }
  }
  ADD_FAILURE() << "no exit";
  return -1;
}

// Every combination that matters: both types, the majors and minors the
// rules name plus others, each single access and some pairs.
void expect_same_verdicts(const std::vector<DeviceRule>& rules) {
  DeviceRuleSet set = DeviceRuleSet::from(rules);
  auto prog = v2::compile_device_filter(set);
  for (char type : {'c', 'b'})
    for (int major : {1, 5, 8, 10, 136, 200})
      for (int minor : {0, 1, 2, 3, 5, 7, 8, 9, 11, 200})
        for (char access : {'r', 'w', 'm'}) {
          uint32_t t = type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
          uint32_t a = access == 'r'   ? BPF_DEVCG_ACC_READ
                       : access == 'w' ? BPF_DEVCG_ACC_WRITE
                                       : BPF_DEVCG_ACC_MKNOD;
          int64_t got = run(prog, t, a, static_cast<uint32_t>(major), static_cast<uint32_t>(minor));
          EXPECT_EQ(got, set.allows(type, major, minor, access) ? 1 : 0)
              << type << " " << major << ":" << minor << " " << access;
        }
}

TEST(CgroupDeviceFilter, DockerDefaultsMatchTheV1Reading) {
  expect_same_verdicts(container_device_rules({}));
}

TEST(CgroupDeviceFilter, ExtraRules) {
  expect_same_verdicts(container_device_rules({tun_device_rule(),
                                               DeviceRule{'b', 8, DeviceRule::wildcard, "r", true},
                                               DeviceRule{'c', 1, 3, "w", false}}));
}

TEST(CgroupDeviceFilter, PrivilegedAndDenyLists) {
  expect_same_verdicts(container_device_rules({DeviceRule::all(true)}));
  expect_same_verdicts({DeviceRule::all(true), DeviceRule{'c', 1, 1, "rw", false},
                        DeviceRule{'b', DeviceRule::wildcard, DeviceRule::wildcard, "m", false}});
}

TEST(CgroupDeviceFilter, ReadAndWriteTogetherNeedOneRuleWithBoth) {
  auto prog = v2::compile_device_filter(
      DeviceRuleSet::from({DeviceRule::all(false), DeviceRule{'c', 1, 3, "r", true},
                           DeviceRule{'c', 1, 3, "w", true}}));
  // Merged into one exception "rw" (as the v1 kernel merges them).
  EXPECT_EQ(run(prog, BPF_DEVCG_DEV_CHAR, BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE, 1, 3), 1);
  auto only_r = v2::compile_device_filter(
      DeviceRuleSet::from({DeviceRule::all(false), DeviceRule{'c', 1, 3, "r", true}}));
  EXPECT_EQ(run(only_r, BPF_DEVCG_DEV_CHAR, BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE, 1, 3), 0);
}

TEST(CgroupDeviceFilter, TheVerifierAcceptsIt) {
  BERTH_REQUIRE_ROOT();
  auto prog =
      v2::compile_device_filter(DeviceRuleSet::from(container_device_rules({tun_device_rule()})));
  static const char license[] = "Apache";
  std::string log(65536, '\0');
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uint64_t>(prog.data());
  attr.insn_cnt = static_cast<uint32_t>(prog.size());
  attr.license = reinterpret_cast<uint64_t>(license);
  attr.log_buf = reinterpret_cast<uint64_t>(log.data());
  attr.log_size = static_cast<uint32_t>(log.size());
  attr.log_level = 1;
  long fd = ::syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
  if (fd < 0 && (errno == ENOSYS || errno == EPERM))
    GTEST_SKIP() << "bpf(2) not available: " << strerror(errno);
  ASSERT_GE(fd, 0) << strerror(errno) << "\n" << log.c_str();
  ::close(static_cast<int>(fd));
}

}  // namespace
}  // namespace berth::core::cgroup
