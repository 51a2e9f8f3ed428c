// security_bench: the security part of a container start. Compiling docker's
// default seccomp profile (parse + libseccomp + BPF export) against a cached
// lookup, which is what a start pays in the daemon; the kernel's load of the
// filter, which it pays in the child; plus the other per-start computations
// (capability arithmetic, user resolution) for scale.
//
//   security_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/runtime/caps.h"
#include "core/runtime/seccomp.h"
#include "core/runtime/seccomp_cache.h"
#include "core/runtime/user.h"

namespace {

using namespace berth::core::runtime;

void BM_SeccompParseDefault(benchmark::State& state) {
  for (auto _ : state) {
    auto p = parse_seccomp_profile(default_seccomp_profile_json());
    if (!p) state.SkipWithError(p.error().message.c_str());
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_SeccompParseDefault)->Unit(benchmark::kMicrosecond);

// Cold: what a cache miss costs (parse and compile).
void BM_SeccompCompileDefault(benchmark::State& state) {
  size_t instructions = 0;
  for (auto _ : state) {
    auto p = parse_seccomp_profile(default_seccomp_profile_json());
    auto prog = compile_seccomp(*p, default_capabilities());
    if (!prog) state.SkipWithError(prog.error().message.c_str());
    instructions = prog->filter.size();
    benchmark::DoNotOptimize(prog);
  }
  state.counters["bpf_insns"] = static_cast<double>(instructions);
}
BENCHMARK(BM_SeccompCompileDefault)->Unit(benchmark::kMillisecond);

// The compile step alone, the profile parsed once.
void BM_SeccompCompileOnly(benchmark::State& state) {
  auto p = parse_seccomp_profile(default_seccomp_profile_json());
  CapMask caps = state.range(0) ? ~CapMask{0} : default_capabilities();
  for (auto _ : state) {
    auto prog = compile_seccomp(*p, caps);
    if (!prog) state.SkipWithError(prog.error().message.c_str());
    benchmark::DoNotOptimize(prog);
  }
}
BENCHMARK(BM_SeccompCompileOnly)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Warm: what a container start pays.
void BM_SeccompCachedLookup(benchmark::State& state) {
  SeccompCache cache;
  CapMask caps = default_capabilities();
  if (!cache.get("", caps)) state.SkipWithError("compile failed");
  for (auto _ : state) {
    auto prog = cache.get("", caps);
    benchmark::DoNotOptimize(prog);
  }
}
BENCHMARK(BM_SeccompCachedLookup)->ThreadRange(1, 2);

void BM_SeccompCachedLookupCustom(benchmark::State& state) {
  SeccompCache cache;
  std::string json(default_seccomp_profile_json());  // a --security-opt profile as text
  CapMask caps = default_capabilities();
  if (!cache.get(json, caps)) state.SkipWithError("compile failed");
  for (auto _ : state) {
    auto prog = cache.get(json, caps);
    benchmark::DoNotOptimize(prog);
  }
}
BENCHMARK(BM_SeccompCachedLookupCustom);

// The kernel's side, which every start pays: loading the filter (in a forked
// child with no_new_privs; SECCOMP_SET_MODE_FILTER, BPF checks and JIT).
void BM_SeccompLoad(benchmark::State& state) {
  auto p = parse_seccomp_profile(default_seccomp_profile_json());
  auto prog = compile_seccomp(*p, default_capabilities());
  if (!prog) {
    state.SkipWithError(prog.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    int fds[2];
    if (::pipe(fds) != 0) break;
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      timespec a, b;
      ::clock_gettime(CLOCK_MONOTONIC, &a);
      int e = apply_in_child(*prog);
      ::clock_gettime(CLOCK_MONOTONIC, &b);
      double ns =
          e ? -1.0 : (b.tv_sec - a.tv_sec) * 1e9 + static_cast<double>(b.tv_nsec - a.tv_nsec);
      (void)!::write(fds[1], &ns, sizeof ns);
      ::_exit(0);
    }
    double ns = 0;
    (void)!::read(fds[0], &ns, sizeof ns);
    ::waitpid(pid, nullptr, 0);
    ::close(fds[0]);
    ::close(fds[1]);
    if (ns < 0) {
      state.SkipWithError("seccomp load failed");
      break;
    }
    state.SetIterationTime(ns / 1e9);
  }
  state.counters["bpf_insns"] = static_cast<double>(prog->filter.size());
}
BENCHMARK(BM_SeccompLoad)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_TweakCapabilities(benchmark::State& state) {
  std::vector<std::string> add = {"NET_ADMIN", "sys_ptrace"}, drop = {"MKNOD"};
  for (auto _ : state) {
    auto caps = tweak_capabilities(default_capabilities(), add, drop, false);
    auto sets = container_cap_sets(*caps, 0);
    benchmark::DoNotOptimize(sets);
  }
}
BENCHMARK(BM_TweakCapabilities);

void BM_ResolveUser(benchmark::State& state) {
  std::string passwd, group;
  for (int i = 0; i < 30; ++i) {
    passwd += "user" + std::to_string(i) + ":x:" + std::to_string(1000 + i) + ":" +
              std::to_string(1000 + i) + "::/home/user" + std::to_string(i) + ":/bin/sh\n";
    group += "group" + std::to_string(i) + ":x:" + std::to_string(2000 + i) + ":user29,user" +
             std::to_string(i) + "\n";
  }
  for (auto _ : state) {
    auto u = resolve_user("user29", passwd, group);
    benchmark::DoNotOptimize(u);
  }
}
BENCHMARK(BM_ResolveUser)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
