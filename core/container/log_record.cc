#include "core/container/log_record.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace berth::core::container {

namespace {

void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put_u64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> crc_table = make_table();

uint32_t crc32c_soft(uint32_t state, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) state = crc_table[(state ^ p[i]) & 0xff] ^ (state >> 8);
  return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t state, const unsigned char* p,
                                                     size_t n) {
  uint64_t s = state;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    s = _mm_crc32_u64(s, w);
    p += 8;
    n -= 8;
  }
  auto s32 = static_cast<uint32_t>(s);
  while (n > 0) {
    s32 = _mm_crc32_u8(s32, *p++);
    --n;
  }
  return s32;
}
bool have_sse42() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return yes;
}
#endif

// The CRC of a record at p whose payload is n bytes: over [4, 24+n).
uint32_t record_crc(uint32_t salt, const char* p, size_t n) {
  return crc32c(salt, p + 4, n + log_record_overhead - 4);
}

bool valid_stream_and_flags(const char* p) {
  auto flags = static_cast<unsigned char>(p[17]);
  return (flags & ~(log_flag_partial | log_flag_split | log_flag_end)) == 0 && p[18] == 0 &&
         p[19] == 0;
}

LogRecord record_at(const char* p, size_t n) {
  LogRecord r;
  r.time_ns = static_cast<int64_t>(get_u64(p + 8));
  r.stream = static_cast<LogStream>(static_cast<unsigned char>(p[16]));
  r.flags = static_cast<uint8_t>(p[17]);
  r.bytes = std::string_view(p + 20, n);
  return r;
}

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t n) {
  auto* p = static_cast<const unsigned char*>(data);
#if defined(__x86_64__)
  if (have_sse42()) return ~crc32c_hw(~crc, p, n);
#endif
  return ~crc32c_soft(~crc, p, n);
}

std::string_view log_stream_name(LogStream s) {
  switch (s) {
    case LogStream::in: return "stdin";
    case LogStream::out: return "stdout";
    case LogStream::err: return "stderr";
  }
  return "";
}

std::string encode_log_header(uint32_t salt) {
  std::string h(log_header_size, '\0');
  std::memcpy(h.data(), log_magic.data(), log_magic.size());
  put_u32(h.data() + 8, log_version);
  put_u32(h.data() + 12, salt);
  return h;
}

bool decode_log_header(std::string_view header, uint32_t* salt) {
  if (header.size() < log_header_size) return false;
  if (header.substr(0, log_magic.size()) != log_magic) return false;
  if (get_u32(header.data() + 8) != log_version) return false;
  *salt = get_u32(header.data() + 12);
  return true;
}

void encode_log_record(std::string& out, uint32_t salt, int64_t time_ns, LogStream stream,
                       uint8_t flags, std::string_view bytes) {
  size_t at = out.size();
  size_t n = bytes.size();
  char head[20];
  put_u32(head, 0);  // the CRC, patched in below
  put_u32(head + 4, static_cast<uint32_t>(n));
  put_u64(head + 8, static_cast<uint64_t>(time_ns));
  head[16] = static_cast<char>(stream);
  head[17] = static_cast<char>(flags);
  head[18] = 0;
  head[19] = 0;
  char back[4];
  put_u32(back, static_cast<uint32_t>(n));
  out.reserve(at + n + log_record_overhead);
  out.append(head, sizeof head).append(bytes).append(back, sizeof back);
  char* p = out.data() + at;
  put_u32(p, record_crc(salt, p, n));
}

LogDecode decode_log_record(std::string_view buf, uint32_t salt, LogRecord* rec, size_t* size) {
  if (buf.size() < 8) return LogDecode::need_more;
  const char* p = buf.data();
  uint32_t n = get_u32(p + 4);
  if (n > log_max_payload) return LogDecode::corrupt;
  size_t total = n + log_record_overhead;
  if (buf.size() < total) {
    // Reject early what the fixed fields already show to be garbage, so a
    // reader does not wait for bytes that will never make a record.
    if (buf.size() >= 20 && !valid_stream_and_flags(p)) return LogDecode::corrupt;
    return LogDecode::need_more;
  }
  if (get_u32(p + 20 + n) != n || !valid_stream_and_flags(p)) return LogDecode::corrupt;
  if (get_u32(p) != record_crc(salt, p, n)) return LogDecode::corrupt;
  *rec = record_at(p, n);
  *size = total;
  return LogDecode::ok;
}

LogDecode decode_log_record_backward(std::string_view buf, uint32_t salt, LogRecord* rec,
                                     size_t* size) {
  if (buf.size() < log_record_overhead) return LogDecode::need_more;
  uint32_t n = get_u32(buf.data() + buf.size() - 4);
  if (n > log_max_payload) return LogDecode::corrupt;
  size_t total = n + log_record_overhead;
  if (buf.size() < total) return LogDecode::need_more;
  const char* p = buf.data() + buf.size() - total;
  if (get_u32(p + 4) != n || !valid_stream_and_flags(p)) return LogDecode::corrupt;
  if (get_u32(p) != record_crc(salt, p, n)) return LogDecode::corrupt;
  *rec = record_at(p, n);
  *size = total;
  return LogDecode::ok;
}

}  // namespace berth::core::container
