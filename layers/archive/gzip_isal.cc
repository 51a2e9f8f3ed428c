// gzip through isa-l's igzip: inflate parses each member's header and checks
// its CRC-32 and ISIZE trailer itself (crc_flag ISAL_GZIP); deflate writes a
// fixed generic header (no name, mtime 0), so output is deterministic.
#include <isa-l/igzip_lib.h>

#include <climits>
#include <cstring>

#include "core/base/strings.h"
#include "layers/archive/codecs.h"

namespace berth::layers::archive::codec {

namespace {

constexpr uint32_t clamp32(size_t n) {
  return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
}

std::string_view inflate_error(int ret) {
  switch (ret) {
    case ISAL_INCORRECT_CHECKSUM: return "CRC-32 or length check failed (corrupt data)";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method in gzip header";
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid deflate distance";
    case ISAL_NEED_DICT: return "stream needs a preset dictionary";
    default: return "inflate failed";
  }
}

class IsalGzipDecompressor final : public MemberDecompressor {
 public:
  explicit IsalGzipDecompressor(TrailingData trailing) : MemberDecompressor(trailing) {
    isal_inflate_init(&state_);
  }
  Compression format() const override { return Compression::gzip; }

 protected:
  std::string_view name() const override { return "gzip"; }
  size_t magic_size() const override { return 2; }
  bool magic_ok(std::string_view h) const override { return h == "\x1f\x8b"; }

  void start_member() override {
    isal_inflate_reset(&state_);
    state_.crc_flag = ISAL_GZIP;
  }

  Result<Step> step(std::string_view in, std::span<char> out) override {
    state_.next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(in.data()));
    state_.avail_in = clamp32(in.size());
    state_.next_out = reinterpret_cast<uint8_t*>(out.data());
    state_.avail_out = clamp32(out.size());
    uint32_t avail_in = state_.avail_in;
    uint32_t avail_out = state_.avail_out;
    int ret = isal_inflate(&state_);
    if (ret < 0) return fail(Errc::corrupt, std::string(inflate_error(ret)));
    Step s;
    s.consumed = avail_in - state_.avail_in;
    s.produced = avail_out - state_.avail_out;
    if (state_.block_state == ISAL_BLOCK_FINISH) {
      s.member_end = true;
      // Whole bytes still in the bit buffer belong to whatever follows.
      int bits = state_.read_in_length;
      if (bits >= 8) {
        uint64_t v = state_.read_in >> (bits % 8);
        unread_len_ = static_cast<size_t>(bits / 8);
        for (size_t i = 0; i < unread_len_; ++i) unread_[i] = static_cast<char>(v >> (8 * i));
        s.unread = {unread_, unread_len_};
      }
    }
    return s;
  }

 private:
  inflate_state state_;
  char unread_[8];
  size_t unread_len_ = 0;
};

class IsalGzipCompressor final : public Compressor {
 public:
  explicit IsalGzipCompressor(int level) {
    isal_deflate_init(&zs_);
    zs_.gzip_flag = IGZIP_GZIP;
    zs_.level = static_cast<uint32_t>(level);
    size_t size = 0;
    switch (level) {
      case 1: size = ISAL_DEF_LVL1_DEFAULT; break;
      case 2: size = ISAL_DEF_LVL2_DEFAULT; break;
      case 3: size = ISAL_DEF_LVL3_DEFAULT; break;
      default: break;
    }
    if (size) {
      level_buf_.reset(new uint8_t[size]);
      zs_.level_buf = level_buf_.get();
      zs_.level_buf_size = static_cast<uint32_t>(size);
    }
  }
  Compression format() const override { return Compression::gzip; }

  Result<CodecStep> compress(std::string_view in, std::span<char> out, bool last) override {
    zs_.next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(in.data()));
    zs_.avail_in = clamp32(in.size());
    zs_.next_out = reinterpret_cast<uint8_t*>(out.data());
    zs_.avail_out = clamp32(out.size());
    zs_.end_of_stream = last && in.size() <= UINT32_MAX;
    zs_.flush = NO_FLUSH;
    uint32_t avail_in = zs_.avail_in;
    uint32_t avail_out = zs_.avail_out;
    int ret = isal_deflate(&zs_);
    if (ret != COMP_OK)
      return fail(Errc::internal, str_cat("gzip: isal_deflate failed (", ret, ")"));
    CodecStep s;
    s.consumed = avail_in - zs_.avail_in;
    s.produced = avail_out - zs_.avail_out;
    s.done = zs_.end_of_stream && zs_.internal_state.state == ZSTATE_END;
    return s;
  }

 private:
  isal_zstream zs_;
  std::unique_ptr<uint8_t[]> level_buf_;
};

}  // namespace

std::unique_ptr<Decompressor> make_isal_gzip_decompressor(const DecompressOptions& opts) {
  return std::make_unique<IsalGzipDecompressor>(opts.trailing);
}

Result<std::unique_ptr<Compressor>> make_isal_gzip_compressor(int level) {
  if (level < ISAL_DEF_MIN_LEVEL || level > ISAL_DEF_MAX_LEVEL)
    return fail(Errc::invalid_argument, str_cat("gzip (isa-l) level ", level, " is out of range ",
                                                ISAL_DEF_MIN_LEVEL, "-", ISAL_DEF_MAX_LEVEL));
  return std::make_unique<IsalGzipCompressor>(level);
}

}  // namespace berth::layers::archive::codec
