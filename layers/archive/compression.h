// Compression of layer streams: format detection by magic number, streaming
// decompressors and compressors for gzip (isa-l igzip, or zlib) and zstd.
//
// Decompressor and Compressor are step interfaces: each call takes some input
// and writes into a caller-provided output span, reporting how much of each it
// used, so a pipeline decides its own buffers (and can stop when they are
// full). DecompressStream/CompressStream wrap them with an internal buffer
// and a callback for code that just wants the bytes.
//
// gzip streams may hold several members (as `cat a.gz b.gz` makes); they
// decompress to the concatenation, like `gzip -d`. Each member's CRC-32 and
// length are verified. zstd streams may hold several frames (skippable ones
// included); frames carry a content checksum when compressed here. Bytes
// after the last member that do not start another are rejected, or ignored
// when TrailingData::ignore is chosen. bzip2 and xz are recognized only to
// say clearly that they are not supported.
//
// Thread-safety: one codec object per thread at a time; separate objects are
// independent. Output views passed to callbacks are valid during the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace berth::layers::archive {

enum class Compression : unsigned char { none, gzip, zstd, bzip2, xz };

std::string_view compression_name(Compression c);  // "none", "gzip", "zstd", ...

// Detects from the first bytes of a stream (6 are enough to decide; fewer may
// read as none). Anything unrecognized is none: a plain tar.
Compression detect_compression(std::string_view head);

enum class GzipBackend : unsigned char {
  isal,  // igzip: about 5x zlib's inflate speed; levels 0-3
  zlib,  // the reference implementation; levels 0-9
};

enum class TrailingData : unsigned char {
  reject,  // error, as Go's gzip reader (and so Docker) does
  ignore,  // stop at the last complete member, like `gzip -dq`
};

struct DecompressOptions {
  GzipBackend gzip_backend = GzipBackend::isal;
  TrailingData trailing = TrailingData::reject;
};

struct CompressOptions {
  GzipBackend gzip_backend = GzipBackend::isal;
  // Codec level; unset means the codec's default (isal 1, zlib 6, zstd 3).
  std::optional<int> level;
};

struct CodecStep {
  size_t consumed = 0;  // input bytes used
  size_t produced = 0;  // output bytes written
  // Decompressor: the input so far ends exactly after a complete member or
  // frame, and all its output has been delivered. Compressor: after a
  // finishing call, the stream is complete.
  bool done = false;
};

class Decompressor {
 public:
  virtual ~Decompressor() = default;
  virtual Compression format() const = 0;
  // Decompresses from in into out. Input that is not consumed must be offered
  // again. When produced == out.size(), more output may be pending even with
  // all input consumed: call again (with empty input if need be).
  virtual Result<CodecStep> decompress(std::string_view in, std::span<char> out) = 0;
  // The input is over: fails if it ended inside a member (truncated) or held
  // no member at all.
  virtual Result<void> finish() = 0;
};

class Compressor {
 public:
  virtual ~Compressor() = default;
  virtual Compression format() const = 0;
  // Compresses from in into out. With last, in is all the input that is left
  // (offer the unconsumed rest again); call until done.
  virtual Result<CodecStep> compress(std::string_view in, std::span<char> out, bool last) = 0;
};

// none yields a pass-through copy; bzip2 and xz fail with not_implemented.
Result<std::unique_ptr<Decompressor>> make_decompressor(Compression c,
                                                        const DecompressOptions& opts = {});
Result<std::unique_ptr<Compressor>> make_compressor(Compression c,
                                                    const CompressOptions& opts = {});

using ByteSink = std::function<Result<void>(std::string_view)>;

// A decompressor with its own output buffer, pushing output to a callback.
class DecompressStream {
 public:
  explicit DecompressStream(std::unique_ptr<Decompressor> d, size_t buffer_size = 256 << 10);
  Result<void> feed(std::string_view in, const ByteSink& out);
  Result<void> finish(const ByteSink& out);
  Decompressor& decompressor() { return *d_; }

 private:
  std::unique_ptr<Decompressor> d_;
  std::unique_ptr<char[]> buf_;
  size_t size_;
};

class CompressStream {
 public:
  explicit CompressStream(std::unique_ptr<Compressor> c, size_t buffer_size = 256 << 10);
  Result<void> feed(std::string_view in, const ByteSink& out);
  Result<void> finish(const ByteSink& out);

 private:
  Result<void> run(std::string_view in, bool last, const ByteSink& out);
  std::unique_ptr<Compressor> c_;
  std::unique_ptr<char[]> buf_;
  size_t size_;
  bool finished_ = false;
};

// Whole-buffer helpers. decompress() detects the format (none: a copy).
Result<std::string> decompress(std::string_view data, const DecompressOptions& opts = {});
Result<std::string> compress(std::string_view data, Compression c,
                             const CompressOptions& opts = {});

}  // namespace berth::layers::archive
