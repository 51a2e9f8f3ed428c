// The log record format: CRC-32C, header, records forwards and backwards,
// and what a damaged or torn record decodes as. Also the docker formatting
// helpers (time, framing, API parameters).
#include "core/container/log_record.h"

#include <gtest/gtest.h>

#include <string>

#include "core/container/log_format.h"
#include "tests/core/log_test_util.h"

namespace berth::core::container {
namespace {

using testing::t0;

TEST(LogRecord, Crc32cKnownValues) {
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c(0, "", 0), 0u);
  // Extending in pieces equals one pass, at every split and length (the
  // hardware path works 8 bytes at a time).
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  for (size_t len = 0; len <= data.size(); len += 13) {
    uint32_t whole = crc32c(0, data.data(), len);
    for (size_t cut = 0; cut <= len; cut += 5) {
      EXPECT_EQ(crc32c(crc32c(0, data.data(), cut), data.data() + cut, len - cut), whole);
    }
  }
}

TEST(LogRecord, HeaderRoundTrip) {
  std::string h = encode_log_header(0xdeadbeef);
  ASSERT_EQ(h.size(), log_header_size);
  EXPECT_EQ(h.substr(0, 8), "BERTHLOG");
  uint32_t salt = 0;
  ASSERT_TRUE(decode_log_header(h, &salt));
  EXPECT_EQ(salt, 0xdeadbeefu);
  EXPECT_FALSE(decode_log_header(h.substr(0, 15), &salt));
  std::string bad = h;
  bad[8] = 2;  // version
  EXPECT_FALSE(decode_log_header(bad, &salt));
  bad = h;
  bad[0] = 'X';
  EXPECT_FALSE(decode_log_header(bad, &salt));
}

TEST(LogRecord, EncodeDecodeForwardAndBackward) {
  std::string buf;
  std::string binary("a\0b\xff\r\n", 6);
  encode_log_record(buf, 42, t0, LogStream::out, 0, "hello\n");
  encode_log_record(buf, 42, -5, LogStream::err, log_flag_partial, binary);
  encode_log_record(buf, 42, t0 + 1, LogStream::out, log_flag_partial | log_flag_split, "");
  ASSERT_EQ(buf.size(), 3 * log_record_overhead + 6 + 6);

  LogRecord r;
  size_t n = 0;
  ASSERT_EQ(decode_log_record(buf, 42, &r, &n), LogDecode::ok);
  EXPECT_EQ(n, log_record_overhead + 6);
  EXPECT_EQ(r.time_ns, t0);
  EXPECT_EQ(r.stream, LogStream::out);
  EXPECT_EQ(r.bytes, "hello\n");
  EXPECT_FALSE(r.partial());
  EXPECT_TRUE(r.ends_message());

  std::string_view rest = std::string_view(buf).substr(n);
  ASSERT_EQ(decode_log_record(rest, 42, &r, &n), LogDecode::ok);
  EXPECT_EQ(r.time_ns, -5);
  EXPECT_EQ(r.stream, LogStream::err);
  EXPECT_EQ(r.bytes, binary);
  EXPECT_TRUE(r.partial());
  EXPECT_FALSE(r.ends_message());

  // Backwards from the end: the split piece, then the binary one.
  ASSERT_EQ(decode_log_record_backward(buf, 42, &r, &n), LogDecode::ok);
  EXPECT_EQ(n, log_record_overhead);
  EXPECT_TRUE(r.partial());
  EXPECT_TRUE(r.ends_message());
  EXPECT_EQ(r.time_ns, t0 + 1);
  ASSERT_EQ(decode_log_record_backward(std::string_view(buf).substr(0, buf.size() - n), 42, &r, &n),
            LogDecode::ok);
  EXPECT_EQ(r.bytes, binary);
}

TEST(LogRecord, TornAndDamagedRecords) {
  std::string buf;
  encode_log_record(buf, 7, t0, LogStream::out, 0, "some line of output\n");
  LogRecord r;
  size_t n = 0;
  // Every proper prefix is a record still to come, never a record.
  for (size_t len = 0; len < buf.size(); ++len) {
    EXPECT_EQ(decode_log_record(buf.substr(0, len), 7, &r, &n), LogDecode::need_more) << len;
    EXPECT_NE(decode_log_record_backward(buf.substr(0, len), 7, &r, &n), LogDecode::ok) << len;
  }
  // Any flipped bit is caught.
  for (size_t i = 0; i < buf.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = buf;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_NE(decode_log_record(bad, 7, &r, &n), LogDecode::ok) << i << ":" << bit;
      EXPECT_NE(decode_log_record_backward(bad, 7, &r, &n), LogDecode::ok) << i << ":" << bit;
    }
  }
  // Another file's salt does not validate it.
  EXPECT_EQ(decode_log_record(buf, 8, &r, &n), LogDecode::corrupt);
  // A length beyond what any writer writes is corrupt at once.
  std::string huge(8, '\0');
  huge[4] = '\xff';
  huge[5] = '\xff';
  huge[6] = '\xff';
  EXPECT_EQ(decode_log_record(huge, 7, &r, &n), LogDecode::corrupt);
  // Zeros (a file system that extended a file after a crash) are not records.
  std::string zeros(4096, '\0');
  EXPECT_EQ(decode_log_record(zeros, 7, &r, &n), LogDecode::corrupt);
  EXPECT_EQ(decode_log_record_backward(zeros, 7, &r, &n), LogDecode::corrupt);
}

TEST(LogFormat, Rfc3339NanoFixed) {
  EXPECT_EQ(format_log_time(t0), "2026-11-30T15:50:26.123456789Z");
  EXPECT_EQ(format_log_time(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(format_log_time(1000000000LL * 951782400 + 5), "2000-02-29T00:00:00.000000005Z");
  EXPECT_EQ(format_log_time(-1), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(format_log_time(INT64_MAX), "2262-04-11T23:47:16.854775807Z");
  EXPECT_EQ(format_log_time(INT64_MIN), "1677-09-21T00:12:43.145224192Z");
}

TEST(LogFormat, MultiplexedAndRawFraming) {
  LogMessage out{t0, LogStream::out, false, "hi\n"};
  LogMessage err{t0 + 1, LogStream::err, true, std::string("e\0", 2)};
  std::string s;
  append_log_message(s, out, {});
  append_log_message(s, err, {});
  EXPECT_EQ(s, std::string("\x01\0\0\0\0\0\0\x03hi\n"
                           "\x02\0\0\0\0\0\0\x02"
                           "e\0",
                           8 + 3 + 8 + 2));
  s.clear();
  append_log_message(s, out, {.timestamps = true});
  std::string payload = "2026-11-30T15:50:26.123456789Z hi\n";
  ASSERT_EQ(s.size(), 8 + payload.size());
  EXPECT_EQ(s.substr(0, 8), std::string("\x01\0\0\0\0\0\0", 7) + static_cast<char>(payload.size()));
  EXPECT_EQ(s.substr(8), payload);
  s.clear();
  append_log_messages(s, {out, err}, {.timestamps = true, .tty = true});
  EXPECT_EQ(s, payload + "2026-11-30T15:50:26.123456790Z " + std::string("e\0", 2));
  // Sizes above 255 use all four bytes, big-endian.
  LogMessage big{t0, LogStream::out, false, std::string(0x10203, 'x')};
  s.clear();
  append_log_message(s, big, {});
  EXPECT_EQ(s.substr(0, 8), std::string("\x01\0\0\0\0\x01\x02\x03", 8));
}

TEST(LogFormat, ApiParameters) {
  EXPECT_EQ(parse_log_time("1700000000"), 1700000000LL * 1000000000);
  EXPECT_EQ(parse_log_time("1700000000.000000001"), 1700000000LL * 1000000000 + 1);
  EXPECT_EQ(parse_log_time("1700000000.5"), 1700000000LL * 1000000000 + 500000000);
  EXPECT_EQ(parse_log_time("1.1234567891"), 1123456789);
  EXPECT_EQ(parse_log_time("0"), 0);
  EXPECT_EQ(parse_log_time(""), std::nullopt);
  EXPECT_EQ(parse_log_time("abc"), std::nullopt);
  EXPECT_EQ(parse_log_time("1."), std::nullopt);
  EXPECT_EQ(parse_log_time("1.x"), std::nullopt);
  EXPECT_EQ(parse_log_tail("all"), -1);
  EXPECT_EQ(parse_log_tail(""), -1);
  EXPECT_EQ(parse_log_tail("-3"), -1);
  EXPECT_EQ(parse_log_tail("0"), 0);
  EXPECT_EQ(parse_log_tail("25"), 25);
}

}  // namespace
}  // namespace berth::core::container
