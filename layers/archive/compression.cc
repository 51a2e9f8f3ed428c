#include "layers/archive/compression.h"

#include <cstring>

#include "core/base/strings.h"
#include "layers/archive/codecs.h"

namespace berth::layers::archive {

namespace {

class PassThrough final : public Decompressor {
 public:
  Compression format() const override { return Compression::none; }
  Result<CodecStep> decompress(std::string_view in, std::span<char> out) override {
    size_t n = std::min(in.size(), out.size());
    if (n) std::memcpy(out.data(), in.data(), n);
    return CodecStep{n, n, n == in.size()};
  }
  Result<void> finish() override { return {}; }
};

}  // namespace

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::none: return "none";
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
    case Compression::bzip2: return "bzip2";
    case Compression::xz: return "xz";
  }
  return "unknown";
}

Compression detect_compression(std::string_view h) {
  auto u = [&](size_t i) { return static_cast<unsigned char>(h[i]); };
  if (h.size() >= 2 && u(0) == 0x1f && u(1) == 0x8b) return Compression::gzip;
  if (h.size() >= 4 && u(1) == 0xb5 && u(0) == 0x28 && u(2) == 0x2f && u(3) == 0xfd)
    return Compression::zstd;
  // A zstd skippable frame (magic 0x184D2A5?) may open a stream too.
  if (h.size() >= 4 && (u(0) & 0xf0) == 0x50 && u(1) == 0x2a && u(2) == 0x4d && u(3) == 0x18)
    return Compression::zstd;
  if (h.size() >= 3 && h.substr(0, 3) == "BZh") return Compression::bzip2;
  if (h.size() >= 6 && h.substr(0, 6) == std::string_view("\xfd"
                                                          "7zXZ\0",
                                                          6))
    return Compression::xz;
  return Compression::none;
}

Result<std::unique_ptr<Decompressor>> make_decompressor(Compression c,
                                                        const DecompressOptions& opts) {
  switch (c) {
    case Compression::none: return std::make_unique<PassThrough>();
    case Compression::gzip:
      if (opts.gzip_backend == GzipBackend::zlib) return codec::make_zlib_gzip_decompressor(opts);
      return codec::make_isal_gzip_decompressor(opts);
    case Compression::zstd: return codec::make_zstd_decompressor(opts);
    case Compression::bzip2:
    case Compression::xz: break;
  }
  return fail(Errc::not_implemented, str_cat("unsupported compression: ", compression_name(c),
                                             " (berth reads gzip and zstd layers)"));
}

Result<std::unique_ptr<Compressor>> make_compressor(Compression c, const CompressOptions& opts) {
  switch (c) {
    case Compression::gzip:
      if (opts.gzip_backend == GzipBackend::zlib)
        return codec::make_zlib_gzip_compressor(opts.level.value_or(6));
      return codec::make_isal_gzip_compressor(opts.level.value_or(1));
    case Compression::zstd: return codec::make_zstd_compressor(opts.level.value_or(3));
    case Compression::none:
    case Compression::bzip2:
    case Compression::xz: break;
  }
  return fail(Errc::not_implemented, str_cat("unsupported compression for writing: ",
                                             compression_name(c), " (gzip and zstd only)"));
}

DecompressStream::DecompressStream(std::unique_ptr<Decompressor> d, size_t buffer_size)
    : d_(std::move(d)), buf_(new char[buffer_size]), size_(buffer_size) {}

Result<void> DecompressStream::feed(std::string_view in, const ByteSink& out) {
  while (true) {
    CodecStep s = BERTH_TRY(d_->decompress(in, {buf_.get(), size_}));
    in.remove_prefix(s.consumed);
    if (s.produced) BERTH_TRY(out({buf_.get(), s.produced}));
    if (in.empty() && s.produced < size_) return {};
    if (s.consumed == 0 && s.produced == 0)
      return fail(Errc::internal, "decompressor made no progress");
  }
}

Result<void> DecompressStream::finish(const ByteSink& out) {
  BERTH_TRY(feed({}, out));
  return d_->finish();
}

CompressStream::CompressStream(std::unique_ptr<Compressor> c, size_t buffer_size)
    : c_(std::move(c)), buf_(new char[buffer_size]), size_(buffer_size) {}

Result<void> CompressStream::run(std::string_view in, bool last, const ByteSink& out) {
  while (true) {
    CodecStep s = BERTH_TRY(c_->compress(in, {buf_.get(), size_}, last));
    in.remove_prefix(s.consumed);
    if (s.produced) BERTH_TRY(out({buf_.get(), s.produced}));
    if (last ? s.done : in.empty() && s.produced < size_) return {};
    if (s.consumed == 0 && s.produced == 0)
      return fail(Errc::internal, "compressor made no progress");
  }
}

Result<void> CompressStream::feed(std::string_view in, const ByteSink& out) {
  if (finished_) return fail(Errc::invalid_argument, "compress stream already finished");
  return run(in, false, out);
}

Result<void> CompressStream::finish(const ByteSink& out) {
  if (finished_) return {};
  finished_ = true;
  return run({}, true, out);
}

Result<std::string> decompress(std::string_view data, const DecompressOptions& opts) {
  auto d = BERTH_TRY(make_decompressor(detect_compression(data), opts));
  DecompressStream stream(std::move(d), std::min<size_t>(256 << 10, data.size() * 4 + 4096));
  std::string out;
  auto sink = [&](std::string_view chunk) -> Result<void> {
    out.append(chunk);
    return {};
  };
  BERTH_TRY(stream.feed(data, sink));
  BERTH_TRY(stream.finish(sink));
  return out;
}

Result<std::string> compress(std::string_view data, Compression c, const CompressOptions& opts) {
  auto z = BERTH_TRY(make_compressor(c, opts));
  CompressStream stream(std::move(z), std::min<size_t>(256 << 10, data.size() + 4096));
  std::string out;
  auto sink = [&](std::string_view chunk) -> Result<void> {
    out.append(chunk);
    return {};
  };
  BERTH_TRY(stream.feed(data, sink));
  BERTH_TRY(stream.finish(sink));
  return out;
}

}  // namespace berth::layers::archive
