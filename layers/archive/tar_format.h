// The tar header block: field layout of the ustar, GNU and star dialects and
// the encodings of its fields (NUL-terminated strings, octal or GNU base-256
// numbers, the header checksum). Shared by the reader and the writer; not a
// public interface of the archive package.
//
// Pure functions on caller-owned 512-byte blocks; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace berth::layers::archive::tar {

inline constexpr size_t kBlockSize = 512;

struct Field {
  size_t off;
  size_t len;
};

// POSIX ustar (and the V7 fields it extends).
inline constexpr Field kName{0, 100};
inline constexpr Field kMode{100, 8};
inline constexpr Field kUid{108, 8};
inline constexpr Field kGid{116, 8};
inline constexpr Field kSize{124, 12};
inline constexpr Field kMtime{136, 12};
inline constexpr Field kChecksum{148, 8};
inline constexpr size_t kTypeflag = 156;
inline constexpr Field kLinkname{157, 100};
inline constexpr Field kMagic{257, 6};
inline constexpr Field kVersion{263, 2};
inline constexpr Field kUname{265, 32};
inline constexpr Field kGname{297, 32};
inline constexpr Field kDevmajor{329, 8};
inline constexpr Field kDevminor{337, 8};
inline constexpr Field kPrefix{345, 155};

// Old GNU: no prefix; these fields live where ustar has it.
inline constexpr Field kGnuSparse{386, 4 * 24};  // 4 x (offset[12], numbytes[12])
inline constexpr size_t kGnuIsExtended = 482;
inline constexpr Field kGnuRealSize{483, 12};
// A GNU sparse extension block: 21 entries, then the isextended flag.
inline constexpr size_t kGnuExtEntries = 21;
inline constexpr size_t kGnuExtIsExtended = 504;

// star: a shorter prefix and a trailer that identifies the dialect.
inline constexpr Field kStarPrefix{345, 131};
inline constexpr Field kStarTrailer{508, 4};

enum class Dialect : unsigned char { v7, ustar, gnu, star };

inline std::string_view field(const char* blk, Field f) {
  return {blk + f.off, f.len};
}
// The field up to its first NUL (strings need no terminator when full).
std::string_view field_string(const char* blk, Field f);
Dialect dialect(const char* blk);
bool is_zero_block(const char* blk);
// Verifies the checksum; both the unsigned sum (POSIX) and the signed sum
// (old Sun and some GNU versions) are accepted, as GNU tar does.
bool checksum_ok(const char* blk);

// A numeric field: octal (leading spaces/NULs, digits, terminated by a space
// or NUL) or GNU base-256 (first byte 0x80 positive, 0xff negative). An
// all-blank field reads as 0. nullopt for garbage or values beyond int64.
std::optional<int64_t> parse_numeric(std::string_view f);

// Writer side. fits_octal: v can be written as width-1 octal digits plus NUL.
bool fits_octal(size_t width, int64_t v);
// Zero-padded octal with a NUL in the last byte (Go archive/tar formatOctal).
void format_octal(char* dst, size_t width, uint64_t v);
// Fills the checksum field: six octal digits, NUL, space.
void set_checksum(char* blk);

}  // namespace berth::layers::archive::tar
