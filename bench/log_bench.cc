// log_bench: the container log store. Encoding records (CPU only), encode +
// append to a file with docker's default-like rotation (MB/s and records/s
// of container output), and reading a 100 MB log: tail N (latency, and bytes
// read from disk) and a full read.
//
//   log_bench [--benchmark_filter=REGEX]
//   BERTH_BENCH_DIR=/some/disk log_bench   # where the logs go (default /tmp)
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/base/strings.h"
#include "core/container/log_format.h"
#include "core/container/log_reader.h"
#include "core/container/log_writer.h"

namespace {

using namespace berth;
using namespace berth::core::container;

constexpr int64_t t_base = 1796053826123456789;

std::string bench_dir(const char* name) {
  const char* base = std::getenv("BERTH_BENCH_DIR");
  std::string dir = str_cat(base ? base : "/tmp", "/berth-log-bench-", ::getpid(), "-", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Output like a service's: lines of about line_len bytes, in pipe-sized chunks.
std::string make_chunk(size_t chunk_size, size_t line_len) {
  std::string chunk;
  int i = 0;
  while (chunk.size() + line_len <= chunk_size) {
    std::string line = str_cat("2026-11-30 15:50:26 INFO request ", i++, " handled in 3ms ");
    while (line.size() + 1 < line_len) line.push_back(static_cast<char>('a' + line.size() % 26));
    line.push_back('\n');
    chunk += line;
  }
  return chunk;
}

void BM_Encode(benchmark::State& state) {
  std::string dir = bench_dir("encode");
  auto w = LogWriter::open(dir);
  if (!w) {
    state.SkipWithError(w.error().message.c_str());
    return;
  }
  std::string chunk = make_chunk(65536, static_cast<size_t>(state.range(0)));
  size_t lines = static_cast<size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
  std::string buf;
  for (auto _ : state) {
    auto e = w->encode(LogStream::out, t_base, chunk, buf);
    benchmark::DoNotOptimize(buf.data());
    w->commit(buf.size());  // bookkeeping only: nothing is written
    buf.clear();
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chunk.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * lines));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Encode)->Arg(20)->Arg(100)->Arg(1000);

// docker's usual production settings: max-size=10m, max-file=3.
void BM_Append(benchmark::State& state) {
  std::string dir = bench_dir("append");
  auto w = LogWriter::open(dir, {.max_size = 10 << 20, .max_files = 3});
  if (!w) {
    state.SkipWithError(w.error().message.c_str());
    return;
  }
  std::string chunk =
      make_chunk(static_cast<size_t>(state.range(1)), static_cast<size_t>(state.range(0)));
  size_t lines = static_cast<size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
  int64_t t = t_base;
  for (auto _ : state) {
    auto r = w->append(LogStream::out, ++t, chunk);
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chunk.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * lines));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Append)
    ->Args({100, 65536})
    ->Args({100, 4096})
    ->Args({20, 65536})
    ->Args({1000, 65536})
    ->ArgNames({"line", "chunk"});

// One 100 MB log (a single file, or 10 MB files) written once per process.
const std::string& big_log(bool rotated) {
  static std::string dirs[2];
  std::string& dir = dirs[rotated];
  if (!dir.empty()) return dir;
  dir = bench_dir(rotated ? "big-rotated" : "big");
  LogWriterOptions opts;
  if (rotated) opts = {.max_size = 10 << 20, .max_files = 11};
  auto w = LogWriter::open(dir, opts);
  if (!w) std::abort();
  std::string chunk = make_chunk(65536, 100);
  int64_t t = t_base;
  for (int64_t written = 0; written < (100 << 20);) {
    ++t;
    if (!w->append(t % 3 ? LogStream::out : LogStream::err, t, chunk)) std::abort();
    written += static_cast<int64_t>(chunk.size());
  }
  ::sync();  // settle the page cache's writeback before timing reads
  std::atexit([] {
    for (auto& d : dirs) {
      if (!d.empty()) std::filesystem::remove_all(d);
    }
  });
  return dir;
}

void BM_Tail(benchmark::State& state) {
  const std::string& dir = big_log(state.range(1) != 0);
  LogReadOptions opts{.tail = state.range(0)};
  LogFormat fmt{.timestamps = true};
  uint64_t bytes_read = 0;
  size_t out_bytes = 0;
  for (auto _ : state) {
    auto r = LogReader::open(dir, opts);
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    std::vector<LogMessage> ms;
    std::string out;
    out_bytes = 0;
    for (;;) {
      auto st = (*r)->next(ms, LogReader::Clock::now());
      if (!st) {
        state.SkipWithError(st.error().message.c_str());
        break;
      }
      // As an API handler would: format a batch, send it, reuse the buffer.
      append_log_messages(out, ms, fmt);
      out_bytes += out.size();
      benchmark::DoNotOptimize(out.data());
      out.clear();
      ms.clear();
      if (*st == LogReadStatus::end) break;
    }
    bytes_read = (*r)->stats().bytes_read;
  }
  state.counters["bytes_read"] = static_cast<double>(bytes_read);
  state.counters["out_bytes"] = static_cast<double>(out_bytes);
}
BENCHMARK(BM_Tail)
    ->Args({10, 0})
    ->Args({1000, 0})
    ->Args({100000, 0})
    ->Args({10, 1})
    ->Args({1000, 1})
    ->ArgNames({"tail", "rotated"})
    ->Unit(benchmark::kMicrosecond);

void BM_ReadAll(benchmark::State& state) {
  const std::string& dir = big_log(state.range(0) != 0);
  uint64_t bytes_read = 0;
  for (auto _ : state) {
    auto r = LogReader::open(dir, {});
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    std::vector<LogMessage> ms;
    std::string out;
    for (;;) {
      auto st = (*r)->next(ms, LogReader::Clock::now());
      if (!st) break;
      append_log_messages(out, ms, {});
      ms.clear();
      out.clear();
      if (*st == LogReadStatus::end) break;
    }
    bytes_read = (*r)->stats().bytes_read;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes_read));
}
BENCHMARK(BM_ReadAll)->Arg(0)->Arg(1)->ArgName("rotated")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
