#include "layers/archive/tar_format.h"

#include <cstring>

namespace berth::layers::archive::tar {

std::string_view field_string(const char* blk, Field f) {
  const void* nul = std::memchr(blk + f.off, 0, f.len);
  size_t n = nul ? static_cast<const char*>(nul) - (blk + f.off) : f.len;
  return {blk + f.off, n};
}

Dialect dialect(const char* blk) {
  std::string_view magic = field(blk, kMagic);
  std::string_view version = field(blk, kVersion);
  if (magic == std::string_view("ustar ", 6) && version == std::string_view(" \0", 2))
    return Dialect::gnu;
  if (magic == std::string_view("ustar\0", 6)) {
    if (field(blk, kStarTrailer) == std::string_view("tar\0", 4)) return Dialect::star;
    return Dialect::ustar;
  }
  return Dialect::v7;
}

bool is_zero_block(const char* blk) {
  if (blk[0] != 0) return false;  // every real header names something
  uint64_t acc = 0;
  for (size_t i = 0; i < kBlockSize; i += 8) {
    uint64_t w;
    std::memcpy(&w, blk + i, 8);
    acc |= w;
  }
  return acc == 0;
}

bool checksum_ok(const char* blk) {
  uint32_t usum = 0;
  uint32_t high = 0;  // bytes >= 0x80, to derive the signed sum
  for (size_t i = 0; i < kBlockSize; ++i) {
    auto c = static_cast<unsigned char>(blk[i]);
    usum += c;
    high += c >> 7;
  }
  for (size_t i = kChecksum.off; i < kChecksum.off + kChecksum.len; ++i) {
    auto c = static_cast<unsigned char>(blk[i]);
    usum -= c;
    high -= c >> 7;
  }
  usum += ' ' * kChecksum.len;
  int64_t ssum = static_cast<int64_t>(usum) - 256 * static_cast<int64_t>(high);
  std::optional<int64_t> stored = parse_numeric(field(blk, kChecksum));
  if (!stored || *stored < 0) return false;
  return *stored == static_cast<int64_t>(usum) || *stored == ssum;
}

std::optional<int64_t> parse_numeric(std::string_view f) {
  if (!f.empty() && (static_cast<unsigned char>(f[0]) & 0x80)) {
    // Base-256, two's complement for negatives: invert, read, invert back.
    unsigned char inv = (static_cast<unsigned char>(f[0]) & 0x40) ? 0xff : 0;
    uint64_t x = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      auto c = static_cast<unsigned char>(static_cast<unsigned char>(f[i]) ^ inv);
      if (i == 0) c &= 0x7f;
      if (x >> 56) return std::nullopt;
      x = (x << 8) | c;
    }
    if (x >> 63) return std::nullopt;
    return inv ? ~static_cast<int64_t>(x) : static_cast<int64_t>(x);
  }
  size_t i = 0;
  while (i < f.size() && (f[i] == ' ' || f[i] == '\0')) ++i;
  if (i == f.size()) return 0;
  uint64_t x = 0;
  size_t digits = 0;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '7'; ++i, ++digits) {
    if (x >> 60) return std::nullopt;
    x = (x << 3) | static_cast<uint64_t>(f[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  for (; i < f.size(); ++i)
    if (f[i] != ' ' && f[i] != '\0') return std::nullopt;
  if (x >> 63) return std::nullopt;
  return static_cast<int64_t>(x);
}

bool fits_octal(size_t width, int64_t v) {
  size_t bits = (width - 1) * 3;
  return v >= 0 && (bits >= 63 || static_cast<uint64_t>(v) < (uint64_t{1} << bits));
}

void format_octal(char* dst, size_t width, uint64_t v) {
  dst[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0;) {
    dst[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
}

void set_checksum(char* blk) {
  std::memset(blk + kChecksum.off, ' ', kChecksum.len);
  uint32_t sum = 0;
  for (size_t i = 0; i < kBlockSize; ++i) sum += static_cast<unsigned char>(blk[i]);
  format_octal(blk + kChecksum.off, 7, sum);
  blk[kChecksum.off + 7] = ' ';
}

}  // namespace berth::layers::archive::tar
