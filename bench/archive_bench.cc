// archive_bench: throughput of berth's archive primitives on an in-memory
// layer-like tar: tar parsing, gunzip (isa-l vs zlib), zstd, gzip and zstd
// compression by level, sha256. Bytes/s are of the uncompressed tar unless
// a benchmark says otherwise.
//
//   archive_bench [--benchmark_filter=REGEX]
//   BERTH_BENCH_DIR=/usr/lib archive_bench   # archive a real tree instead
#include <benchmark/benchmark.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <tuple>

#include "layers/archive/compression.h"
#include "layers/archive/digest.h"
#include "layers/archive/tar_reader.h"
#include "layers/archive/tar_writer.h"

namespace {

using namespace berth;
using namespace berth::layers::archive;

// Synthetic content that compresses roughly like a base image (about 3:1
// with gzip -1): a vocabulary of tokens with random bytes mixed in.
std::string content(std::mt19937& rng, size_t n) {
  static const char* tokens[] = {
      "\x7f"
      "ELF",
      "/usr/lib/",
      "libc.so.6",
      "\0\0\0\0",
      "GLIBC_2.34",
      "main",
      "\x48\x89\xe5",
      "error: ",
      "#include <",
      "return 0;\n",
      "    ",
      "\xff\xff"};
  std::string s;
  s.reserve(n + 16);
  while (s.size() < n) {
    uint32_t r = rng();
    if (r % 3 == 0) {
      s.push_back(static_cast<char>(r >> 8));
      s.push_back(static_cast<char>(r >> 16));
    } else {
      s.append(tokens[(r >> 4) % 12]);
    }
  }
  s.resize(n);
  return s;
}

std::string tar_of_dir(const std::string& root, size_t limit) {
  std::string out;
  TarWriter w([&](std::string_view b) -> Result<void> {
    out.append(b);
    return {};
  });
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(
           root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator() && out.size() < limit; it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    Entry e;
    e.path = fs::relative(it->path(), root).string();
    e.mode = st.st_mode & 07777;
    e.mtime = {st.st_mtim.tv_sec, 0};
    std::string data;
    if (S_ISDIR(st.st_mode)) {
      e.type = EntryType::directory;
    } else if (S_ISLNK(st.st_mode)) {
      e.type = EntryType::symlink;
      e.link_target = fs::read_symlink(it->path(), ec).string();
    } else if (S_ISREG(st.st_mode)) {
      std::ifstream f(it->path(), std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      data = ss.str();
    } else {
      continue;
    }
    (void)w.add_file(e, data);
  }
  (void)w.finish();
  return out;
}

// About 64 MiB: many small files (most of a layer's entries) and a few big
// ones (most of its bytes), in directories of 50.
const std::string& layer_tar() {
  static const std::string tar = [] {
    if (const char* dir = std::getenv("BERTH_BENCH_DIR")) return tar_of_dir(dir, 256 << 20);
    std::mt19937 rng(42);
    std::string out;
    TarWriter w([&](std::string_view b) -> Result<void> {
      out.append(b);
      return {};
    });
    for (int i = 0; out.size() < (64u << 20); ++i) {
      if (i % 50 == 0) {
        Entry d;
        d.path = "usr/lib/d" + std::to_string(i / 50);
        d.type = EntryType::directory;
        d.mode = 0755;
        (void)w.add(d);
      }
      size_t size = i % 100 == 99 ? 2 << 20 : 256 + rng() % 16384;
      Entry e;
      e.path = "usr/lib/d" + std::to_string(i / 50) + "/file" + std::to_string(i);
      e.mode = 0644;
      e.mtime = {1700000000, 0};
      (void)w.add_file(e, content(rng, size));
    }
    (void)w.finish();
    return out;
  }();
  return tar;
}

const std::string& compressed(Compression c, GzipBackend b, int level) {
  static std::map<std::tuple<int, int, int>, std::string> cache;
  auto key = std::make_tuple(static_cast<int>(c), static_cast<int>(b), level);
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, *compress(layer_tar(), c, {.gzip_backend = b, .level = level})).first;
  return it->second;
}

class CountingSink : public TarSink {
 public:
  uint64_t entries = 0, bytes = 0;
  Result<void> on_entry(const Entry&) override {
    ++entries;
    return {};
  }
  Result<void> on_data(std::string_view d) override {
    bytes += d.size();
    return {};
  }
  Result<void> on_entry_end() override { return {}; }
};

// Tar parsing alone, fed in chunks the size a decompressor would hand over.
void BM_TarParse(benchmark::State& state) {
  const std::string& tar = layer_tar();
  size_t chunk = static_cast<size_t>(state.range(0));
  uint64_t entries = 0;
  for (auto _ : state) {
    CountingSink sink;
    TarReader reader(sink);
    for (size_t i = 0; i < tar.size(); i += chunk)
      if (!reader.feed(std::string_view(tar).substr(i, chunk))) state.SkipWithError("parse");
    if (!reader.finish()) state.SkipWithError("finish");
    entries = sink.entries;
    benchmark::DoNotOptimize(sink.bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * tar.size()));
  state.counters["entries"] = static_cast<double>(entries);
  state.counters["entries/s"] = benchmark::Counter(static_cast<double>(entries),
                                                   benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TarParse)->Arg(64 << 10)->Arg(256 << 10)->Arg(4 << 20)->Unit(benchmark::kMillisecond);

void decompress_bench(benchmark::State& state, Compression c, GzipBackend reader,
                      const std::string& z) {
  std::unique_ptr<char[]> buf(new char[256 << 10]);
  for (auto _ : state) {
    auto d = make_decompressor(c, {.gzip_backend = reader});
    std::string_view in = z;
    uint64_t out = 0;
    while (true) {
      auto s = (*d)->decompress(in.substr(0, 1 << 20), {buf.get(), 256 << 10});
      if (!s) {
        state.SkipWithError(s.error().message.c_str());
        break;
      }
      in.remove_prefix(s->consumed);
      out += s->produced;
      if (in.empty() && s->produced == 0) break;
    }
    if (!(*d)->finish()) state.SkipWithError("finish");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * layer_tar().size()));
  state.counters["ratio"] = static_cast<double>(layer_tar().size()) / static_cast<double>(z.size());
}

void BM_Gunzip_Isal(benchmark::State& state) {
  decompress_bench(state, Compression::gzip, GzipBackend::isal,
                   compressed(Compression::gzip, GzipBackend::zlib, 6));
}
void BM_Gunzip_Zlib(benchmark::State& state) {
  decompress_bench(state, Compression::gzip, GzipBackend::zlib,
                   compressed(Compression::gzip, GzipBackend::zlib, 6));
}
void BM_Unzstd(benchmark::State& state) {
  decompress_bench(state, Compression::zstd, GzipBackend::isal,
                   compressed(Compression::zstd, GzipBackend::isal, 3));
}
BENCHMARK(BM_Gunzip_Isal)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gunzip_Zlib)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Unzstd)->Unit(benchmark::kMillisecond);

// The unpack pipeline minus the file writes: gunzip (isa-l) + tar parse +
// sha256 of the compressed stream, on one core.
void BM_GunzipParseDigest(benchmark::State& state) {
  const std::string& z = compressed(Compression::gzip, GzipBackend::zlib, 6);
  for (auto _ : state) {
    Sha256 h;
    CountingSink sink;
    TarReader reader(sink);
    DecompressStream d(*make_decompressor(Compression::gzip));
    auto feed = [&](std::string_view b) { return reader.feed(b); };
    for (size_t i = 0; i < z.size(); i += 1 << 20) {
      std::string_view piece = std::string_view(z).substr(i, 1 << 20);
      h.update(piece);
      if (!d.feed(piece, feed)) state.SkipWithError("feed");
    }
    if (!d.finish(feed) || !reader.finish()) state.SkipWithError("finish");
    benchmark::DoNotOptimize(h.finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * layer_tar().size()));
}
BENCHMARK(BM_GunzipParseDigest)->Unit(benchmark::kMillisecond);

void compress_bench(benchmark::State& state, Compression c, GzipBackend b) {
  int level = static_cast<int>(state.range(0));
  // 16 MiB of the tar keeps the slow levels bearable.
  std::string_view in = std::string_view(layer_tar()).substr(0, 16 << 20);
  size_t out_size = 0;
  for (auto _ : state) {
    auto z = make_compressor(c, {.gzip_backend = b, .level = level});
    CompressStream s(std::move(*z));
    out_size = 0;
    auto sink = [&](std::string_view bytes) -> Result<void> {
      out_size += bytes.size();
      return {};
    };
    if (!s.feed(in, sink) || !s.finish(sink)) state.SkipWithError("compress");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.size()));
  state.counters["ratio"] = static_cast<double>(in.size()) / static_cast<double>(out_size);
}
void BM_Gzip_Isal(benchmark::State& state) {
  compress_bench(state, Compression::gzip, GzipBackend::isal);
}
void BM_Gzip_Zlib(benchmark::State& state) {
  compress_bench(state, Compression::gzip, GzipBackend::zlib);
}
void BM_Zstd(benchmark::State& state) {
  compress_bench(state, Compression::zstd, GzipBackend::isal);
}
BENCHMARK(BM_Gzip_Isal)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gzip_Zlib)->Arg(1)->Arg(6)->Arg(9)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Zstd)->Arg(1)->Arg(3)->Arg(9)->Unit(benchmark::kMillisecond);

void BM_Sha256(benchmark::State& state) {
  const std::string& tar = layer_tar();
  for (auto _ : state) benchmark::DoNotOptimize(sha256(tar));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * tar.size()));
}
BENCHMARK(BM_Sha256)->Unit(benchmark::kMillisecond);

void BM_TarWrite(benchmark::State& state) {
  std::mt19937 rng(1);
  std::string data = content(rng, 4096);
  uint64_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    TarWriter w([&](std::string_view b) -> Result<void> {
      bytes += b.size();
      return {};
    });
    for (int i = 0; i < 10000; ++i) {
      Entry e;
      e.path = "usr/share/doc/pkg/file" + std::to_string(i);
      e.mode = 0644;
      (void)w.add_file(e, data);
    }
    (void)w.finish();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["entries/s"] =
      benchmark::Counter(10000, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TarWrite)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
