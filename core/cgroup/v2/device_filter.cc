#include "core/cgroup/v2/device_filter.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "core/base/strings.h"
#include "core/base/unique_fd.h"

namespace berth::core::cgroup::v2 {

namespace {

// Registers of the program (BPF calling convention: r1 = context).
constexpr uint8_t r0 = 0, r1 = 1, r2 = 2, r3 = 3, r4 = 4, r5 = 5;

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

bpf_insn load_ctx_u32(uint8_t dst, int16_t offset) {
  return insn(BPF_LDX | BPF_MEM | BPF_W, dst, r1, offset, 0);
}

int32_t access_bits(const std::string& access) {
  int32_t bits = 0;
  for (char c : access) {
    if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
    if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
  }
  return bits;
}

constexpr int32_t all_access = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

// One exception's block; jumps marked `next` (off = -1) are patched to the
// block's end once its length is known.
std::vector<bpf_insn> rule_block(const DeviceRule& rule) {
  std::vector<bpf_insn> b;
  constexpr int16_t next = -1;
  if (rule.type == 'c' || rule.type == 'b') {
    int32_t type = rule.type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
    b.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, r2, 0, next, type));
  }
  int32_t acc = access_bits(rule.access);
  if (rule.allow) {
    // Requested access within the rule's: (r3 & acc) == r3.
    if (acc != all_access) {
      b.push_back(insn(BPF_ALU | BPF_MOV | BPF_X, r1, r3, 0, 0));
      b.push_back(insn(BPF_ALU | BPF_AND | BPF_K, r1, 0, 0, acc));
      b.push_back(insn(BPF_JMP | BPF_JNE | BPF_X, r1, r3, next, 0));
    }
  } else {
    // Any overlap denies: (r3 & acc) != 0.
    b.push_back(insn(BPF_ALU | BPF_MOV | BPF_X, r1, r3, 0, 0));
    b.push_back(insn(BPF_ALU | BPF_AND | BPF_K, r1, 0, 0, acc));
    b.push_back(insn(BPF_JMP | BPF_JEQ | BPF_K, r1, 0, next, 0));
  }
  if (rule.major != DeviceRule::wildcard)
    b.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, r4, 0, next, rule.major));
  if (rule.minor != DeviceRule::wildcard)
    b.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, r5, 0, next, rule.minor));
  b.push_back(insn(BPF_ALU | BPF_MOV | BPF_K, r0, 0, 0, rule.allow ? 1 : 0));
  b.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  for (size_t i = 0; i < b.size(); ++i) {
    uint8_t op = BPF_OP(b[i].code);
    if (BPF_CLASS(b[i].code) == BPF_JMP && op != BPF_EXIT && b[i].off == next)
      b[i].off = static_cast<int16_t>(b.size() - i - 1);
  }
  return b;
}

long sys_bpf(int cmd, bpf_attr* attr) {
  return ::syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

}  // namespace

std::vector<bpf_insn> compile_device_filter(const DeviceRuleSet& rules) {
  std::vector<bpf_insn> p;
  // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
  // access_type = (access << 16) | type.
  p.push_back(load_ctx_u32(r2, 0));
  p.push_back(insn(BPF_ALU | BPF_AND | BPF_K, r2, 0, 0, 0xFFFF));
  p.push_back(load_ctx_u32(r3, 0));
  p.push_back(insn(BPF_ALU | BPF_RSH | BPF_K, r3, 0, 0, 16));
  p.push_back(load_ctx_u32(r4, 4));
  p.push_back(load_ctx_u32(r5, 8));
  for (const DeviceRule& e : rules.exceptions) {
    if (e.type == 'a') continue;  // a DeviceRuleSet has none
    std::vector<bpf_insn> b = rule_block(e);
    p.insert(p.end(), b.begin(), b.end());
  }
  p.push_back(insn(BPF_ALU | BPF_MOV | BPF_K, r0, 0, 0, rules.default_allow ? 1 : 0));
  p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return p;
}

Result<void> load_and_attach_device_filter(int cgroup_fd, const std::vector<bpf_insn>& prog) {
  static const char license[] = "Apache";
  auto load = [&](char* log, uint32_t log_size) {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uint64_t>(prog.data());
    attr.insn_cnt = static_cast<uint32_t>(prog.size());
    attr.license = reinterpret_cast<uint64_t>(license);
    if (log) {
      attr.log_buf = reinterpret_cast<uint64_t>(log);
      attr.log_size = log_size;
      attr.log_level = 1;
    }
    return sys_bpf(BPF_PROG_LOAD, &attr);
  };
  long fd = load(nullptr, 0);
  if (fd < 0) {
    int e = errno;
    if (e != EINVAL && e != EACCES) return sys_fail(e, "load the device filter (bpf)");
    // Again with the verifier's log, to say why.
    std::string log(64 * 1024, '\0');
    fd = load(log.data(), static_cast<uint32_t>(log.size()));
    if (fd < 0) {
      e = errno;
      log.resize(std::strlen(log.c_str()));
      return sys_fail(e, str_cat("load the device filter (bpf): ", trim(log)));
    }
  }
  unique_fd prog_fd(static_cast<int>(fd));
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(cgroup_fd);
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd.get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (sys_bpf(BPF_PROG_ATTACH, &attr) != 0)
    return sys_fail(errno, "attach the device filter (bpf)");
  return {};
}

}  // namespace berth::core::cgroup::v2
