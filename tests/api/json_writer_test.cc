// The JSON writer: string escaping as Go's encoding/json does it (HTML
// escaping off), U+FFFD for every invalid UTF-8 byte, separators in nested
// containers, and numbers at their limits. Every output is also parsed back
// with simdjson.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "api/json/writer.h"
#include "core/base/strings.h"

namespace berth {
namespace {

using api::json::append_string;
using api::json::Writer;

using namespace std::string_literals;

const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

std::string escaped(std::string_view s) {
  std::string out;
  append_string(out, s);
  return out;
}

// Parses text as a JSON document holding one string; returns it decoded.
::testing::AssertionResult parses_to(const std::string& text, const std::string& expected) {
  simdjson::dom::parser p;
  simdjson::padded_string padded(text);
  std::string_view got;
  auto err = p.parse(padded).get(got);
  if (err != simdjson::SUCCESS)
    return ::testing::AssertionFailure()
           << "simdjson rejects " << text << ": " << simdjson::error_message(err);
  if (got != expected)
    return ::testing::AssertionFailure()
           << text << " decodes to \"" << got << "\", expected \"" << expected << "\"";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult valid_json(const std::string& text) {
  simdjson::dom::parser p;
  simdjson::padded_string padded(text);
  simdjson::dom::element e;
  auto err = p.parse(padded).get(e);
  if (err != simdjson::SUCCESS)
    return ::testing::AssertionFailure()
           << "simdjson rejects " << text << ": " << simdjson::error_message(err);
  return ::testing::AssertionSuccess();
}

// --- escaping ------------------------------------------------------------------

TEST(JsonWriterTest, PlainAsciiIsCopied) {
  EXPECT_EQ(escaped(""), "\"\"");
  EXPECT_EQ(escaped("hello world /<>&'"), "\"hello world /<>&'\"");
  EXPECT_TRUE(parses_to(escaped("hello world /<>&'"), "hello world /<>&'"));
}

TEST(JsonWriterTest, QuotesAndBackslash) {
  EXPECT_EQ(escaped("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(escaped("\\\\\"\""), R"("\\\\\"\"")");
  EXPECT_TRUE(parses_to(escaped("a\"b\\c"), "a\"b\\c"));
}

TEST(JsonWriterTest, ShortEscapes) {
  EXPECT_EQ(escaped("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(escaped("line1\nline2"), R"("line1\nline2")");
  EXPECT_TRUE(parses_to(escaped("\n\r\t\b\f"), "\n\r\t\b\f"));
}

TEST(JsonWriterTest, OtherControlCharactersAsUnicodeEscapes) {
  EXPECT_EQ(escaped("\0"s), R"("\u0000")");
  EXPECT_EQ(escaped("\x01"), R"("\u0001")");
  EXPECT_EQ(escaped("\x0b"), R"("\u000b")");
  EXPECT_EQ(escaped("\x1b[31m"), R"("\u001b[31m")");
  EXPECT_EQ(escaped("\x1f"), R"("\u001f")");
  // DEL is not a control character for JSON.
  EXPECT_EQ(escaped("\x7f"), "\"\x7f\"");
  std::string all;
  for (int c = 0; c < 0x20; ++c) all.push_back(static_cast<char>(c));
  EXPECT_TRUE(parses_to(escaped(all), all));
}

TEST(JsonWriterTest, LineAndParagraphSeparatorsAreEscaped) {
  EXPECT_EQ(escaped("a\xE2\x80\xA8z"), R"("a\u2028z")");
  EXPECT_EQ(escaped("a\xE2\x80\xA9z"), R"("a\u2029z")");
  // Neighbours of U+2028/2029 pass through.
  EXPECT_EQ(escaped("\xE2\x80\xA7\xE2\x80\xAA"), "\"\xE2\x80\xA7\xE2\x80\xAA\"");
  EXPECT_TRUE(parses_to(escaped("\xE2\x80\xA8\xE2\x80\xA9"), "\xE2\x80\xA8\xE2\x80\xA9"));
}

TEST(JsonWriterTest, ValidMultiByteUtf8PassesThrough) {
  const char* samples[] = {
      "\xC2\x80",          // U+0080, smallest 2-byte
      "\xC3\xA9",          // é
      "\xDF\xBF",          // U+07FF
      "\xE0\xA0\x80",      // U+0800, smallest 3-byte
      "\xE2\x82\xAC",      // €
      "\xED\x9F\xBF",      // U+D7FF, below the surrogates
      "\xEE\x80\x80",      // U+E000, above them
      "\xEF\xBF\xBD",      // U+FFFD itself
      "\xEF\xBF\xBF",      // U+FFFF
      "\xF0\x90\x80\x80",  // U+10000, smallest 4-byte
      "\xF0\x9D\x84\x9E",  // 𝄞
      "\xF0\x9F\x90\xB3",  // 🐳
      "\xF4\x8F\xBF\xBF",  // U+10FFFF, the largest
  };
  for (const char* s : samples) {
    EXPECT_EQ(escaped(s), str_cat("\"", s, "\"")) << "bytes of " << s;
    EXPECT_TRUE(parses_to(escaped(s), s));
  }
  std::string mixed = "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x90\xB3!";
  EXPECT_EQ(escaped(mixed), str_cat("\"", mixed, "\""));
}

struct Invalid {
  const char* name;
  std::string input;
  std::string expected;  // decoded: each invalid byte becomes U+FFFD
};

void PrintTo(const Invalid& i, std::ostream* os) {
  *os << i.name;
}

class JsonInvalidUtf8Test : public ::testing::TestWithParam<Invalid> {};

TEST_P(JsonInvalidUtf8Test, EachBadByteBecomesFffd) {
  const Invalid& c = GetParam();
  std::string out = escaped(c.input);
  // The writer's escape, not a raw U+FFFD, and only valid UTF-8 out.
  EXPECT_EQ(out.find('\x80'), std::string::npos);
  EXPECT_TRUE(simdjson::validate_utf8(out.data(), out.size())) << out;
  EXPECT_TRUE(parses_to(out, c.expected)) << c.name;
}

std::string fffd(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += kFffd;
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Bytes, JsonInvalidUtf8Test,
    ::testing::Values(
        Invalid{"LoneContinuation", "a\x80z", str_cat("a", fffd(1), "z")},
        Invalid{"LoneContinuationBF", "\xBF", fffd(1)},
        Invalid{"ContinuationRun", "\x80\x81\x82", fffd(3)},
        Invalid{"OverlongSlash2", "\xC0\xAF", fffd(2)},
        Invalid{"OverlongNul2", "\xC0\x80", fffd(2)}, Invalid{"OverlongC1", "\xC1\xBF", fffd(2)},
        Invalid{"Overlong3", "\xE0\x80\xAF", fffd(3)},
        Invalid{"Overlong3Max", "\xE0\x9F\xBF", fffd(3)},
        Invalid{"Overlong4", "\xF0\x80\x80\xAF", fffd(4)},
        Invalid{"Overlong4Max", "\xF0\x8F\xBF\xBF", fffd(4)},
        Invalid{"HighSurrogate", "\xED\xA0\x80", fffd(3)},
        Invalid{"LowSurrogate", "\xED\xBF\xBF", fffd(3)},
        Invalid{"SurrogatePair", "\xED\xA0\xBD\xED\xB0\xB3", fffd(6)},
        Invalid{"Truncated2AtEnd", "ab\xC3", str_cat("ab", fffd(1))},
        Invalid{"Truncated3AtEnd", "\xE2\x82", fffd(2)},
        Invalid{"Truncated4AtEnd", "\xF0\x9F\x90", fffd(3)},
        Invalid{"Truncated3ThenAscii", "\xE2\x82z", str_cat(fffd(2), "z")},
        Invalid{"Truncated4ThenAscii", "\xF0\x9F\x90z", str_cat(fffd(3), "z")},
        Invalid{"Truncated2ThenQuote", "\xC3\"", str_cat(fffd(1), "\"")},
        Invalid{"AboveMaxF4", "\xF4\x90\x80\x80", fffd(4)},
        Invalid{"F5", "\xF5\x80\x80\x80", fffd(4)}, Invalid{"F8", "\xF8\x88\x80\x80\x80", fffd(5)},
        Invalid{"FE", "\xFE", fffd(1)}, Invalid{"FF", "\xFF", fffd(1)},
        Invalid{"ValidAroundInvalid", "\xC3\xA9\xFF\xC3\xA9",
                str_cat("\xC3\xA9", fffd(1), "\xC3\xA9")},
        Invalid{"InvalidBeforeSeparator", "\xFF\xE2\x80\xA8", str_cat(fffd(1), "\xE2\x80\xA8")}),
    [](const ::testing::TestParamInfo<Invalid>& i) { return std::string(i.param.name); });

TEST(JsonWriterTest, InvalidByteIsWrittenAsEscape) {
  EXPECT_EQ(escaped("\xFF"), R"("\ufffd")");
  EXPECT_EQ(escaped("a\xC0\x80z"), R"("a\ufffd\ufffdz")");
}

// Any byte string must come out as valid JSON; valid UTF-8 must round-trip.
TEST(JsonWriterTest, RandomBytesAlwaysYieldValidJson) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> len(0, 64), byte(0, 255), pick(0, 9);
  for (int iter = 0; iter < 5000; ++iter) {
    std::string s;
    int n = len(rng);
    for (int i = 0; i < n; ++i) {
      // Bias towards interesting bytes: high bytes, controls, quotes.
      int k = pick(rng);
      if (k < 3)
        s.push_back(static_cast<char>(0x80 + byte(rng) % 0x80));
      else if (k < 4)
        s.push_back(static_cast<char>(byte(rng) % 0x20));
      else if (k < 5)
        s.push_back(k % 2 ? '"' : '\\');
      else
        s.push_back(static_cast<char>(byte(rng)));
    }
    std::string out = escaped(s);
    ASSERT_TRUE(simdjson::validate_utf8(out.data(), out.size())) << "iteration " << iter;
    ASSERT_TRUE(valid_json(out)) << "iteration " << iter;
    if (simdjson::validate_utf8(s.data(), s.size())) {
      ASSERT_TRUE(parses_to(out, s)) << "iteration " << iter;
    }
  }
}

// --- structure -----------------------------------------------------------------

TEST(JsonWriterTest, NestedContainersGetCommasAndColons) {
  std::string out;
  Writer w(out);
  w.begin_object();
  w.kv("a", 1);
  w.key("b").begin_array();
  w.value(1).value("two");
  w.begin_object().key("c").begin_array().end_array().end_object();
  w.begin_array().end_array();
  w.begin_array().begin_array().value(true).end_array().null().end_array();
  w.end_array();
  w.key("d").begin_object().end_object();
  w.kv_null("e");
  w.kv("f", false);
  w.key("g").begin_object().kv("h", "i").key("j").begin_object().kv("k", 2).end_object();
  w.end_object();
  w.key("raw").raw(R"({"x":[1,2]})");
  w.key("list").string_array({"x", "y"});
  w.key("empty").string_array({});
  w.end_object();
  EXPECT_EQ(out, R"({"a":1,"b":[1,"two",{"c":[]},[],[[true],null]],"d":{},"e":null,"f":false,)"
                 R"("g":{"h":"i","j":{"k":2}},"raw":{"x":[1,2]},"list":["x","y"],"empty":[]})");
  EXPECT_TRUE(valid_json(out));
}

TEST(JsonWriterTest, TopLevelArrayOfObjects) {
  std::string out;
  Writer w(out);
  w.begin_array();
  for (int i = 0; i < 3; ++i) w.begin_object().kv("Id", i).kv("Name", "n").end_object();
  w.end_array();
  EXPECT_EQ(out, R"([{"Id":0,"Name":"n"},{"Id":1,"Name":"n"},{"Id":2,"Name":"n"}])");
  EXPECT_TRUE(valid_json(out));
}

TEST(JsonWriterTest, KeysAreEscapedToo) {
  std::string out;
  Writer w(out);
  w.begin_object().kv("a\"b\n\xFF", "v").end_object();
  EXPECT_EQ(out, R"({"a\"b\n\ufffd":"v"})");
  EXPECT_TRUE(valid_json(out));
}

TEST(JsonWriterTest, AppendsToExistingText) {
  std::string out = "prefix:";
  Writer w(out);
  w.begin_object().kv("k", 1).end_object();
  EXPECT_EQ(out, R"(prefix:{"k":1})");
}

// --- numbers -------------------------------------------------------------------

TEST(JsonWriterTest, IntegerLimits) {
  std::string out;
  Writer w(out);
  w.begin_array();
  w.value(std::numeric_limits<int64_t>::min());
  w.value(std::numeric_limits<int64_t>::max());
  w.value(std::numeric_limits<uint64_t>::max());
  w.value(0);
  w.value(-1);
  w.value(std::numeric_limits<int>::min());
  w.value(std::numeric_limits<unsigned>::max());
  w.end_array();
  EXPECT_EQ(out,
            "[-9223372036854775808,9223372036854775807,18446744073709551615,0,-1,-2147483648,"
            "4294967295]");
  simdjson::dom::parser p;
  simdjson::padded_string text(out);
  simdjson::dom::array a;
  ASSERT_EQ(p.parse(text).get(a), simdjson::SUCCESS);
  EXPECT_EQ(int64_t(a.at(0)), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(int64_t(a.at(1)), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(uint64_t(a.at(2)), std::numeric_limits<uint64_t>::max());
}

TEST(JsonWriterTest, DoublesRoundTrip) {
  const double values[] = {0.0,
                           -0.0,
                           0.5,
                           -1.25,
                           3.0,
                           0.1,
                           1e-7,
                           1e21,
                           1e300,
                           -1e-300,
                           123.456,
                           2.5e-10,
                           4.9e-324,
                           std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::lowest()};
  for (double v : values) {
    std::string out;
    Writer w(out);
    w.value(v);
    simdjson::dom::parser p;
    simdjson::padded_string text(out);
    double back = 0;
    ASSERT_EQ(p.parse(text).get(back), simdjson::SUCCESS) << out;
    EXPECT_EQ(back, v) << out;
  }
  std::string out;
  Writer(out).value(0.5);
  EXPECT_EQ(out, "0.5");
}

TEST(JsonWriterTest, NonFiniteDoublesAreNull) {
  std::string out;
  Writer w(out);
  w.begin_object();
  w.kv("nan", std::numeric_limits<double>::quiet_NaN());
  w.kv("inf", std::numeric_limits<double>::infinity());
  w.kv("ninf", -std::numeric_limits<double>::infinity());
  w.end_object();
  EXPECT_EQ(out, R"({"nan":null,"inf":null,"ninf":null})");
  EXPECT_TRUE(valid_json(out));
}

TEST(JsonWriterTest, Booleans) {
  std::string out;
  Writer w(out);
  w.begin_array().value(true).value(false).end_array();
  EXPECT_EQ(out, "[true,false]");
}

}  // namespace
}  // namespace berth
