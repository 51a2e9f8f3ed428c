// zstd through libzstd's streaming API. Frames follow one another (and
// skippable frames are passed over) within one stream; compressed frames get
// a content checksum, as the zstd CLI writes them. The decoder keeps libzstd's
// default window limit (128 MiB), so a hostile frame cannot demand more.
#include <zstd.h>

#include "core/base/strings.h"
#include "layers/archive/codecs.h"

namespace berth::layers::archive::codec {

namespace {

class ZstdDecompressor final : public MemberDecompressor {
 public:
  explicit ZstdDecompressor(TrailingData trailing)
      : MemberDecompressor(trailing), dctx_(ZSTD_createDCtx()) {}
  ~ZstdDecompressor() override { ZSTD_freeDCtx(dctx_); }
  Compression format() const override { return Compression::zstd; }

 protected:
  std::string_view name() const override { return "zstd"; }
  size_t magic_size() const override { return 4; }
  bool magic_ok(std::string_view h) const override {
    auto u = [&](size_t i) { return static_cast<unsigned char>(h[i]); };
    if (u(0) == 0x28 && u(1) == 0xb5 && u(2) == 0x2f && u(3) == 0xfd) return true;
    return (u(0) & 0xf0) == 0x50 && u(1) == 0x2a && u(2) == 0x4d && u(3) == 0x18;  // skippable
  }
  void start_member() override {
    if (dctx_) ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_only);
  }

  Result<Step> step(std::string_view in, std::span<char> out) override {
    if (!dctx_) return fail(Errc::internal, "ZSTD_createDCtx failed");
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    size_t ret = ZSTD_decompressStream(dctx_, &ob, &ib);
    if (ZSTD_isError(ret)) return fail(Errc::corrupt, ZSTD_getErrorName(ret));
    Step s;
    s.consumed = ib.pos;
    s.produced = ob.pos;
    s.member_end = ret == 0;
    return s;
  }

 private:
  ZSTD_DCtx* dctx_;
};

class ZstdCompressor final : public Compressor {
 public:
  explicit ZstdCompressor(int level) : cctx_(ZSTD_createCCtx()) {
    if (!cctx_) return;
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
  }
  ~ZstdCompressor() override { ZSTD_freeCCtx(cctx_); }
  Compression format() const override { return Compression::zstd; }

  Result<CodecStep> compress(std::string_view in, std::span<char> out, bool last) override {
    if (!cctx_) return fail(Errc::internal, "ZSTD_createCCtx failed");
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    size_t ret = ZSTD_compressStream2(cctx_, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(ret))
      return fail(Errc::internal, str_cat("zstd: compression failed: ", ZSTD_getErrorName(ret)));
    return CodecStep{ib.pos, ob.pos, last && ret == 0};
  }

 private:
  ZSTD_CCtx* cctx_;
};

}  // namespace

std::unique_ptr<Decompressor> make_zstd_decompressor(const DecompressOptions& opts) {
  return std::make_unique<ZstdDecompressor>(opts.trailing);
}

Result<std::unique_ptr<Compressor>> make_zstd_compressor(int level) {
  if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel() || level == 0)
    return fail(Errc::invalid_argument, str_cat("zstd level ", level, " is out of range 1-",
                                                ZSTD_maxCLevel(), " (or negative fast levels)"));
  return std::make_unique<ZstdCompressor>(level);
}

}  // namespace berth::layers::archive::codec
