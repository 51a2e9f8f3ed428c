// gzip through zlib: inflate with windowBits 15+16 reads one gzip member
// and verifies its CRC-32 and ISIZE; deflate writes zlib's default header
// (mtime 0, OS unix), so output is deterministic for a given level.
#include <zlib.h>

#include <climits>

#include "core/base/strings.h"
#include "layers/archive/codecs.h"

namespace berth::layers::archive::codec {

namespace {

constexpr uInt clamp_uint(size_t n) {
  return n > UINT_MAX ? UINT_MAX : static_cast<uInt>(n);
}

class ZlibGzipDecompressor final : public MemberDecompressor {
 public:
  explicit ZlibGzipDecompressor(TrailingData trailing) : MemberDecompressor(trailing) {
    zs_ = {};
    ok_ = inflateInit2(&zs_, 16 + MAX_WBITS) == Z_OK;
  }
  ~ZlibGzipDecompressor() override {
    if (ok_) inflateEnd(&zs_);
  }
  Compression format() const override { return Compression::gzip; }

 protected:
  std::string_view name() const override { return "gzip"; }
  size_t magic_size() const override { return 2; }
  bool magic_ok(std::string_view h) const override { return h == "\x1f\x8b"; }
  void start_member() override {
    if (ok_) inflateReset(&zs_);
  }

  Result<Step> step(std::string_view in, std::span<char> out) override {
    if (!ok_) return fail(Errc::internal, "zlib inflateInit2 failed");
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = clamp_uint(in.size());
    zs_.next_out = reinterpret_cast<Bytef*>(out.data());
    zs_.avail_out = clamp_uint(out.size());
    uInt avail_in = zs_.avail_in, avail_out = zs_.avail_out;
    int ret = inflate(&zs_, Z_NO_FLUSH);
    Step s;
    s.consumed = avail_in - zs_.avail_in;
    s.produced = avail_out - zs_.avail_out;
    switch (ret) {
      case Z_STREAM_END: s.member_end = true; break;
      case Z_OK:
      case Z_BUF_ERROR: break;  // no progress possible now; more input or room needed
      case Z_NEED_DICT: return fail(Errc::corrupt, "stream needs a preset dictionary");
      case Z_MEM_ERROR: return fail(Errc::internal, "zlib: out of memory");
      default:
        return fail(Errc::corrupt,
                    zs_.msg ? str_cat(zs_.msg, " (corrupt data)") : std::string("corrupt data"));
    }
    return s;
  }

 private:
  z_stream zs_;
  bool ok_ = false;
};

class ZlibGzipCompressor final : public Compressor {
 public:
  explicit ZlibGzipCompressor(int level) {
    zs_ = {};
    ok_ = deflateInit2(&zs_, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~ZlibGzipCompressor() override {
    if (ok_) deflateEnd(&zs_);
  }
  Compression format() const override { return Compression::gzip; }

  Result<CodecStep> compress(std::string_view in, std::span<char> out, bool last) override {
    if (!ok_) return fail(Errc::internal, "zlib deflateInit2 failed");
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = clamp_uint(in.size());
    zs_.next_out = reinterpret_cast<Bytef*>(out.data());
    zs_.avail_out = clamp_uint(out.size());
    uInt avail_in = zs_.avail_in, avail_out = zs_.avail_out;
    bool finishing = last && in.size() <= UINT_MAX;
    int ret = deflate(&zs_, finishing ? Z_FINISH : Z_NO_FLUSH);
    if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
      return fail(Errc::internal, str_cat("gzip: zlib deflate failed (", ret, ")"));
    CodecStep s;
    s.consumed = avail_in - zs_.avail_in;
    s.produced = avail_out - zs_.avail_out;
    s.done = ret == Z_STREAM_END;
    return s;
  }

 private:
  z_stream zs_;
  bool ok_ = false;
};

}  // namespace

std::unique_ptr<Decompressor> make_zlib_gzip_decompressor(const DecompressOptions& opts) {
  return std::make_unique<ZlibGzipDecompressor>(opts.trailing);
}

Result<std::unique_ptr<Compressor>> make_zlib_gzip_compressor(int level) {
  if (level < 0 || level > 9)
    return fail(Errc::invalid_argument,
                str_cat("gzip (zlib) level ", level, " is out of range 0-9"));
  return std::make_unique<ZlibGzipCompressor>(level);
}

}  // namespace berth::layers::archive::codec
