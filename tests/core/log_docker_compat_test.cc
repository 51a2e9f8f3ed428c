// `docker logs` compatibility: what a container wrote goes through
// LogWriter and LogReader and is formatted for the API, and the bytes must be
// what docker (json-file driver) would send for the same writes, for every
// combination of tail, since, until, stdout/stderr, timestamps and TTY.
//
// The reference is a model of moby's code path, written from its source:
// daemon/logger/copier.go (16 KiB buffer per stream; a message per line,
// stamped when its newline is read; a line that fills the buffer is emitted
// as a partial message, and its later pieces reuse the first piece's time;
// at EOF what is left is a last partial message), jsonfilelog (a message per
// JSON line; tail counts those lines), loggerutils' forwarder (since skips
// until the first message at or after it; until stops after the first
// message past it) and httputils.WriteLogStream + stdcopy (timestamp prefix
// in RFC3339NanoFixed, one 8-byte-header frame per message unless TTY).
//
// EOF is recorded by LogWriter::end_stream (the lifecycle calls it when a
// pipe closes). Where it was not (a daemon crash), berth can only stamp the
// piece left over with the time of that stream's last write, and the model
// does the same for writes that end without an EOF.
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/base/strings.h"
#include "tests/core/log_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::core::container {
namespace {

using berth::testing::TempDir;
using namespace testing;

struct Write {
  LogStream stream;
  int64_t time_ns;
  std::string bytes;
  bool eof = false;  // the stream's pipe closed (the container exited)
};

struct DockerMessage {
  int64_t time_ns;
  LogStream stream;
  std::string line;  // as json-file stores it: with its "\n" unless partial
};

// moby's Copier.copySrc over both streams; a new copier after each EOF
// (a restart). What is left when the writes run out is flushed as at EOF,
// stamped with the stream's last write (see the file comment).
std::vector<DockerMessage> docker_copier(const std::vector<Write>& writes) {
  constexpr size_t buf_size = 16 * 1024;
  struct Source {
    std::string buf;
    std::optional<int64_t> partial_ts;
    int64_t last_write = 0;
  };
  std::array<Source, 3> src;
  std::vector<DockerMessage> out;
  for (const Write& w : writes) {
    Source& s = src[static_cast<size_t>(w.stream)];
    if (w.eof) {
      if (!s.buf.empty()) out.push_back({s.partial_ts.value_or(w.time_ns), w.stream, s.buf});
      s = Source{};
      continue;
    }
    s.buf += w.bytes;
    s.last_write = w.time_ns;
    for (;;) {
      size_t q = s.buf.find('\n');
      if (q != std::string::npos && q < buf_size) {
        int64_t ts = s.partial_ts.value_or(w.time_ns);
        s.partial_ts.reset();
        out.push_back({ts, w.stream, s.buf.substr(0, q + 1)});
        s.buf.erase(0, q + 1);
      } else if (s.buf.size() >= buf_size) {
        if (!s.partial_ts) s.partial_ts = w.time_ns;
        out.push_back({*s.partial_ts, w.stream, s.buf.substr(0, buf_size)});
        s.buf.erase(0, buf_size);
      } else {
        break;
      }
    }
  }
  std::vector<size_t> left;
  for (size_t i = 1; i <= 2; ++i) {
    if (!src[i].buf.empty()) left.push_back(i);
  }
  std::sort(left.begin(), left.end(),
            [&](size_t a, size_t b) { return src[a].last_write < src[b].last_write; });
  for (size_t i : left) {
    out.push_back(
        {src[i].partial_ts.value_or(src[i].last_write), static_cast<LogStream>(i), src[i].buf});
  }
  return out;
}

struct Query {
  int64_t tail = -1;
  int64_t since = 0;
  int64_t until = 0;
  bool out = true;
  bool err = true;
};

// tailFiles + forwarder + WriteLogStream (with stdcopy framing unless TTY).
std::string docker_logs(const std::vector<DockerMessage>& all, const Query& q, bool timestamps,
                        bool tty) {
  size_t from = 0;
  if (q.tail == 0) from = all.size();
  if (q.tail > 0 && static_cast<size_t>(q.tail) < all.size()) from = all.size() - q.tail;
  std::string out;
  int64_t since = q.since;
  for (size_t i = from; i < all.size(); ++i) {
    const DockerMessage& m = all[i];
    if (since != 0) {
      if (m.time_ns < since) continue;
      since = 0;
    }
    if (q.until != 0 && m.time_ns > q.until) break;
    if (m.stream == LogStream::out && !q.out) continue;
    if (m.stream == LogStream::err && !q.err) continue;
    std::string payload;
    if (timestamps) payload = format_log_time(m.time_ns) + " ";
    payload += m.line;
    if (!tty) {
      uint32_t n = static_cast<uint32_t>(payload.size());
      out.push_back(static_cast<char>(m.stream));
      out.append(3, '\0');
      for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>(n >> shift));
    }
    out += payload;
  }
  return out;
}

// A container's output with what matters for docker's framing: lines split
// across reads and interleaved with the other stream, empty lines, binary
// bytes, lines at and around 16 KiB and far beyond, several writes at one
// time (since/until boundaries) and unended lines at exit.
std::vector<Write> scenario(bool with_final_eof) {
  std::vector<Write> w;
  int64_t t = t0;
  auto add = [&](LogStream s, std::string bytes, int64_t dt = 1000) {
    t += dt;
    w.push_back({s, t, std::move(bytes)});
  };
  add(LogStream::out, "hello\n");
  add(LogStream::err, "err 1\nerr 2\n");
  add(LogStream::out, "par");
  add(LogStream::err, "x\n");
  add(LogStream::out, "tial\n\n");
  add(LogStream::out, std::string("bin\0ary\r\n\xff\xfe\n", 13));
  add(LogStream::out, "same time 1\n");
  add(LogStream::err, "same time 2\n", 0);
  add(LogStream::out, "same time 3\n", 0);
  std::string big(40000, '.');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('A' + i % 23);
  for (size_t at = 0; at < big.size(); at += 5000) {
    add(LogStream::out, big.substr(at, 5000));
    if (at == 15000) add(LogStream::err, "between pieces\n");
  }
  add(LogStream::out, "\nafter big\n");
  add(LogStream::err, std::string(16384, 'y') + "\n");
  add(LogStream::err, std::string(16383, 'z') + "\n");
  add(LogStream::err, std::string(16385, 'w') + "\nw2\n");
  for (int i = 0; i < 40; ++i) {
    add(i % 3 ? LogStream::out : LogStream::err, str_cat("short ", i, "\n"), i % 4 ? 1000 : 0);
  }
  // The container exits in the middle of a line on stdout, after a 16 KiB
  // piece on stderr, and is started again.
  add(LogStream::out, "prompt> ");
  add(LogStream::err, std::string(16384 + 16384, 'q'));
  w.push_back({LogStream::out, t += 1000, "", true});
  w.push_back({LogStream::err, t += 1000, "", true});
  add(LogStream::err, "restarted\n");
  add(LogStream::out, "again\n");
  add(LogStream::out, "no newline at exit");
  add(LogStream::err, "e");
  if (with_final_eof) {
    w.push_back({LogStream::err, t += 1000, "", true});
    w.push_back({LogStream::out, t += 1000, "", true});
  }
  return w;
}

// The same writes cut at random points (same times): how the pipe reads
// fell must not matter.
std::vector<Write> rechunked(const std::vector<Write>& ws, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Write> out;
  for (const Write& w : ws) {
    size_t at = 0;
    while (at < w.bytes.size()) {
      size_t n = 1 + rng() % (rng() % 2 ? 7 : 9000);
      out.push_back({w.stream, w.time_ns, w.bytes.substr(at, n)});
      at += n;
    }
    if (w.eof) out.push_back(w);
  }
  return out;
}

std::vector<int64_t> interesting_times(const std::vector<DockerMessage>& ms) {
  std::vector<int64_t> ts{0, ms.front().time_ns, ms.front().time_ns - 1, ms.back().time_ns + 1};
  for (size_t i : {3ul, 7ul, 12ul, ms.size() / 2, ms.size() - 2}) {
    ts.push_back(ms[i].time_ns);
    ts.push_back(ms[i].time_ns + 500);
  }
  return ts;
}

void check_all_queries(const std::string& dir, const std::vector<DockerMessage>& model,
                       const std::string& label) {
  auto times = interesting_times(model);
  std::vector<int64_t> untils{0, model[5].time_ns, model[9].time_ns + 1, model.back().time_ns,
                              model.front().time_ns - 1};
  int checked = 0;
  for (int64_t tail : {-1L, 0L, 1L, 2L, 5L, 17L, 1000L}) {
    for (int64_t since : times) {
      for (int64_t until : untils) {
        for (int streams = 1; streams <= 3; ++streams) {
          Query q{tail, since, until, (streams & 1) != 0, (streams & 2) != 0};
          LogReadOptions opts{.show_stdout = q.out,
                              .show_stderr = q.err,
                              .since_ns = since,
                              .until_ns = until,
                              .tail = tail};
          auto got = read_all(dir, opts);
          for (bool ts : {false, true}) {
            for (bool tty : {false, true}) {
              std::string want = docker_logs(model, q, ts, tty);
              std::string have = formatted(got, {.timestamps = ts, .tty = tty});
              ASSERT_EQ(have, want)
                  << label << " tail=" << tail << " since=" << since << " until=" << until
                  << " streams=" << streams << " timestamps=" << ts << " tty=" << tty;
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 3000);
}

struct Config {
  const char* name;
  LogWriterOptions writer;
  bool rechunk;
  bool final_eof = true;
};

void PrintTo(const Config& c, std::ostream* os) {
  *os << c.name;
}

class DockerLogsCompat : public ::testing::TestWithParam<Config> {};

TEST_P(DockerLogsCompat, MatchesJsonFileForEveryOptionCombination) {
  const Config& c = GetParam();
  TempDir tmp;
  auto writes = scenario(c.final_eof);
  auto model = docker_copier(writes);
  ASSERT_GT(model.size(), 60u);
  auto w = LogWriter::open(tmp.path(), c.writer);
  ASSERT_TRUE(w) << w.error().message;
  for (const Write& x : c.rechunk ? rechunked(writes, 42) : writes) {
    if (x.eof) {
      ASSERT_TRUE(w->end_stream(x.stream, x.time_ns));
    } else {
      ASSERT_TRUE(w->append(x.stream, x.time_ns, x.bytes));
    }
  }
  check_all_queries(tmp.path(), model, c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, DockerLogsCompat,
    ::testing::Values(
        Config{"one_file", {}, false}, Config{"one_file_rechunked", {}, true},
        Config{"small_files", {.max_size = 3000, .max_files = 1000}, false},
        Config{"small_files_rechunked", {.max_size = 3000, .max_files = 1000}, true},
        Config{"piece_sized_files", {.max_size = 17000, .max_files = 1000}, true},
        Config{"one_file_no_final_eof", {}, false, false},
        Config{"small_files_no_final_eof", {.max_size = 3000, .max_files = 1000}, true, false}),
    [](const auto& info) { return std::string(info.param.name); });

// The model itself, on docker's documented cases, so that a wrong model
// cannot agree with a wrong reader.
TEST(DockerLogsModel, KnownCases) {
  auto m = docker_copier({{LogStream::out, 1, "a"}, {LogStream::out, 2, "b\nc"}});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].line, "ab\n");
  EXPECT_EQ(m[0].time_ns, 2);
  EXPECT_EQ(m[1].line, "c");
  m = docker_copier({{LogStream::out, 1, std::string(16384, 'x')}, {LogStream::out, 2, "\n"}});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].line.size(), 16384u);
  EXPECT_EQ(m[1].line, "\n");
  EXPECT_EQ(m[1].time_ns, 1);
  // EOF in the middle of a line: a last partial message stamped at EOF; a
  // line cut at 16 KiB keeps its first piece's time; the next start begins
  // a new line.
  m = docker_copier({{LogStream::out, 1, "ab"},
                     {LogStream::out, 2, "", true},
                     {LogStream::out, 3, "c\n"},
                     {LogStream::err, 4, std::string(16390, 'x')},
                     {LogStream::err, 5, "", true}});
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].line, "ab");
  EXPECT_EQ(m[0].time_ns, 2);
  EXPECT_EQ(m[1].line, "c\n");
  EXPECT_EQ(m[2].time_ns, 4);
  EXPECT_EQ(m[3].line, "xxxxxx");
  EXPECT_EQ(m[3].time_ns, 4);
  std::string framed = docker_logs({{t0, LogStream::err, "x\n"}}, {}, true, false);
  EXPECT_EQ(framed, std::string("\x02\0\0\0\0\0\0\x21", 8) + "2026-11-30T15:50:26.123456789Z x\n");
}

}  // namespace
}  // namespace berth::core::container
