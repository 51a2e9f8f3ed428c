// The codec implementations behind make_decompressor()/make_compressor(),
// and the member/frame sequencing gzip and zstd decompressors share. Not a
// public interface: use compression.h.
//
// Thread-safety: as for any codec object, one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "layers/archive/compression.h"

namespace berth::layers::archive::codec {

// Splits a stream into members (gzip) or frames (zstd): checks each one
// starts with the format's magic, hands it to the codec, and applies the
// trailing-data policy after the last.
class MemberDecompressor : public Decompressor {
 public:
  Result<CodecStep> decompress(std::string_view in, std::span<char> out) final;
  Result<void> finish() final;

 protected:
  explicit MemberDecompressor(TrailingData trailing) : trailing_(trailing) {}

  struct Step {
    size_t consumed = 0;
    size_t produced = 0;
    bool member_end = false;  // the member ended; all its output was delivered
    // Bytes the codec took from the input but did not use (it reads ahead);
    // they start the next member. Valid until the next call.
    std::string_view unread;
  };
  virtual std::string_view name() const = 0;
  virtual bool magic_ok(std::string_view head) const = 0;  // head: magic_size() bytes
  virtual size_t magic_size() const = 0;
  virtual void start_member() = 0;
  virtual Result<Step> step(std::string_view in, std::span<char> out) = 0;

 private:
  Error error(Errc code, std::string_view what) const;

  enum class State : unsigned char { between, member, ignoring, failed };
  TrailingData trailing_;
  State state_ = State::between;
  std::string pending_;   // bytes taken from the caller but not yet decoded
  uint64_t members_ = 0;  // members completed
  uint64_t offset_ = 0;   // compressed bytes consumed (for messages)
  Error error_;
};

std::unique_ptr<Decompressor> make_isal_gzip_decompressor(const DecompressOptions& opts);
std::unique_ptr<Decompressor> make_zlib_gzip_decompressor(const DecompressOptions& opts);
std::unique_ptr<Decompressor> make_zstd_decompressor(const DecompressOptions& opts);

Result<std::unique_ptr<Compressor>> make_isal_gzip_compressor(int level);
Result<std::unique_ptr<Compressor>> make_zlib_gzip_compressor(int level);
Result<std::unique_ptr<Compressor>> make_zstd_compressor(int level);

}  // namespace berth::layers::archive::codec
