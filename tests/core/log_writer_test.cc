// LogWriter: how chunks become records (newlines, 16 KiB pieces, partial
// lines across chunks), rotation at the size boundary with max-file, crash
// repair on reopen, and the reactor path (append_async through io_uring).
#include "core/container/log_writer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base/strings.h"
#include "core/container/log_files.h"
#include "io/reactor.h"
#include "tests/core/log_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::core::container {
namespace {

using berth::testing::TempDir;
using namespace testing;

// Decodes every record of one file.
std::vector<LogRecord> records_of(const std::string& path, std::string& storage) {
  storage = read_file(path);
  std::vector<LogRecord> out;
  uint32_t salt = 0;
  if (!decode_log_header(storage, &salt)) {
    ADD_FAILURE() << "bad header in " << path;
    return out;
  }
  std::string_view rest = std::string_view(storage).substr(log_header_size);
  while (!rest.empty()) {
    LogRecord r;
    size_t n = 0;
    if (decode_log_record(rest, salt, &r, &n) != LogDecode::ok) {
      ADD_FAILURE() << "bad record in " << path;
      break;
    }
    out.push_back(r);
    rest.remove_prefix(n);
  }
  return out;
}

TEST(LogWriter, CutsAtNewlinesAndKeepsPartialLines) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(w->append(LogStream::out, t0, "one\ntwo\nthr"));
  ASSERT_TRUE(w->append(LogStream::err, t0 + 1, "E1\n"));
  ASSERT_TRUE(w->append(LogStream::out, t0 + 2, "ee\n\nfour"));
  std::string storage;
  auto recs = records_of(tmp / "log", storage);
  ASSERT_EQ(recs.size(), 7u);
  std::vector<std::string> bytes;
  for (auto& r : recs) bytes.emplace_back(r.bytes);
  EXPECT_EQ(bytes,
            (std::vector<std::string>{"one\n", "two\n", "thr", "E1\n", "ee\n", "\n", "four"}));
  EXPECT_FALSE(recs[0].partial());
  EXPECT_TRUE(recs[2].partial());
  EXPECT_FALSE(recs[2].ends_message());
  EXPECT_EQ(recs[3].stream, LogStream::err);
  EXPECT_EQ(recs[3].time_ns, t0 + 1);
  EXPECT_TRUE(recs[6].partial());
  EXPECT_EQ(w->size(), file_size(tmp / "log"));
}

TEST(LogWriter, CutsLongLinesAt16KiBLikeDocker) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w);
  // 40000 bytes of one line in odd chunks, then the newline: pieces of
  // 16384 from the start of the line whatever the chunks were.
  std::string line(40000, 'x');
  for (size_t i = 0; i < line.size(); i++) line[i] = static_cast<char>('a' + i % 26);
  for (size_t at = 0; at < line.size(); at += 7001) {
    ASSERT_TRUE(w->append(LogStream::out, t0, std::string_view(line).substr(at, 7001)));
  }
  ASSERT_TRUE(w->append(LogStream::out, t0, "\n"));
  // A line of exactly 16384 bytes: the newline does not fit docker's
  // buffer, so it comes as a message of its own.
  ASSERT_TRUE(w->append(LogStream::err, t0, std::string(16384, 'y') + "\n"));
  // 16383 bytes and the newline fill the buffer exactly: one message.
  ASSERT_TRUE(w->append(LogStream::err, t0, std::string(16383, 'z') + "\n"));

  std::string storage;
  auto recs = records_of(tmp / "log", storage);
  std::string joined_out;
  size_t in_piece = 0;
  std::vector<size_t> message_sizes;
  for (auto& r : recs) {
    if (r.stream != LogStream::out) continue;
    joined_out += r.bytes;
    in_piece += r.bytes.size();
    EXPECT_LE(in_piece, log_piece_size);
    if (r.ends_message()) {
      message_sizes.push_back(in_piece);
      in_piece = 0;
    }
  }
  EXPECT_EQ(joined_out, line + "\n");
  EXPECT_EQ(message_sizes, (std::vector<size_t>{16384, 16384, 40000 - 32768 + 1}));

  std::vector<std::pair<size_t, uint8_t>> err;
  for (auto& r : recs) {
    if (r.stream == LogStream::err) err.emplace_back(r.bytes.size(), r.flags);
  }
  EXPECT_EQ(err, (std::vector<std::pair<size_t, uint8_t>>{
                     {16384, log_flag_partial | log_flag_split}, {1, 0}, {16384, 0}}));
}

TEST(LogWriter, EndOfStreamMarksAnOpenLineOnly) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->end_stream(LogStream::out, t0));  // nothing open: no record
  EXPECT_EQ(file_size(tmp / "log"), static_cast<int64_t>(log_header_size));
  ASSERT_TRUE(w->append(LogStream::out, t0, "done\nhalf"));
  ASSERT_TRUE(w->append(LogStream::err, t0, "whole\n"));
  ASSERT_TRUE(w->end_stream(LogStream::out, t0 + 1));
  ASSERT_TRUE(w->end_stream(LogStream::err, t0 + 1));
  ASSERT_TRUE(w->end_stream(LogStream::out, t0 + 2));  // already ended
  std::string storage;
  auto recs = records_of(tmp / "log", storage);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_TRUE(recs[3].stream_end());
  EXPECT_EQ(recs[3].stream, LogStream::out);
  EXPECT_EQ(recs[3].time_ns, t0 + 1);
  EXPECT_TRUE(recs[3].bytes.empty());
  EXPECT_TRUE(recs[3].ends_message());  // "half" is a message of its own
  // After a 16 KiB piece the line is still open.
  ASSERT_TRUE(w->append(LogStream::err, t0 + 3, std::string(16384, 'p')));
  ASSERT_TRUE(w->end_stream(LogStream::err, t0 + 4));
  recs = records_of(tmp / "log", storage);
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_TRUE(recs[5].stream_end());
  EXPECT_FALSE(recs[5].ends_message());  // no bytes since the cut: no message
}

TEST(LogWriter, RotatesBeforeExceedingMaxSizeAndKeepsMaxFiles) {
  TempDir tmp;
  // Records of "line NNN\n" are 9 + 24 = 33 bytes: 16 + 3*33 = 115 fits in
  // 120, a fourth record would not.
  auto w = LogWriter::open(tmp.path(), {.max_size = 120, .max_files = 3});
  ASSERT_TRUE(w);
  for (int i = 0; i < 10; ++i) {
    char line[16];
    snprintf(line, sizeof line, "line %03d\n", i);
    ASSERT_TRUE(w->append(LogStream::out, t0 + i, line));
  }
  // 10 records: files of 3, 3, 3, 1; the oldest (0..2) dropped.
  EXPECT_EQ(file_size(tmp / "log"), 16 + 33);
  EXPECT_EQ(file_size(tmp / "log.1"), 16 + 3 * 33);
  EXPECT_EQ(file_size(tmp / "log.2"), 16 + 3 * 33);
  EXPECT_EQ(file_size(tmp / "log.3"), -1);
  std::string s;
  EXPECT_EQ(records_of(tmp / "log.2", s)[0].bytes, "line 003\n");
  EXPECT_EQ(records_of(tmp / "log", s)[0].bytes, "line 009\n");

  auto all = read_all(tmp.path());
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all.front().bytes, "line 003\n");
  EXPECT_EQ(all.back().bytes, "line 009\n");
  EXPECT_EQ(all.back().time_ns, t0 + 9);

  // A chunk that spans several files is cut between records.
  ASSERT_TRUE(w->append(LogStream::out, t0 + 10, "a\nb\nc\nd\ne\nf\ng\nh\n"));
  for (const char* name : {"log", "log.1", "log.2"}) {
    EXPECT_LE(file_size(tmp / name), 120) << name;
  }
  all = read_all(tmp.path());
  EXPECT_EQ(joined(all, LogStream::out), "line 009\na\nb\nc\nd\ne\nf\ng\nh\n");
}

TEST(LogWriter, ExactFitAndOversizedRecords) {
  TempDir tmp;
  // 16 + 33 + 33 = 82: the second record exactly fills the file.
  auto w = LogWriter::open(tmp.path(), {.max_size = 82, .max_files = 2});
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->append(LogStream::out, t0, "line 000\nline 001\n"));
  EXPECT_EQ(file_size(tmp / "log"), 82);
  EXPECT_EQ(file_size(tmp / "log.1"), -1);
  // A record larger than max-size still goes in, alone in a file.
  ASSERT_TRUE(w->append(LogStream::out, t0, std::string(200, 'q') + "\n"));
  EXPECT_EQ(file_size(tmp / "log"), 16 + 24 + 201);
  EXPECT_EQ(file_size(tmp / "log.1"), 82);
  ASSERT_TRUE(w->append(LogStream::out, t0, "x\n"));
  EXPECT_EQ(file_size(tmp / "log"), 16 + 26);
  EXPECT_EQ(file_size(tmp / "log.1"), 16 + 24 + 201);
}

TEST(LogWriter, MaxFilesOneReplacesTheLog) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path(), {.max_size = 100, .max_files = 1});
  ASSERT_TRUE(w);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(w->append(LogStream::out, t0, "0123456789\n"));
  EXPECT_EQ(file_size(tmp / "log.1"), -1);
  EXPECT_LE(file_size(tmp / "log"), 100);
  auto all = read_all(tmp.path());
  EXPECT_FALSE(all.empty());
  EXPECT_LE(all.size(), 2u);
}

TEST(LogWriter, EncodeStopsForRotationAndResumes) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path(), {.max_size = 100, .max_files = 5});
  ASSERT_TRUE(w);
  std::string chunk = "aaaaaaaaa\nbbbbbbbbb\ncccccccccc\nddddddddd\n";
  std::string buf;
  std::string_view rest = chunk;
  int rotations = 0;
  while (!rest.empty()) {
    auto e = w->encode(LogStream::out, t0, rest, buf);
    rest.remove_prefix(e.consumed);
    ASSERT_EQ(::write(w->fd(), buf.data(), buf.size()), static_cast<ssize_t>(buf.size()));
    w->commit(buf.size());
    buf.clear();
    if (e.rotate) {
      ASSERT_TRUE(w->rotate());
      ++rotations;
    }
  }
  EXPECT_EQ(rotations, 1);  // 16 + 2*34 = 84; a third record would make 119
  EXPECT_EQ(joined(read_all(tmp.path()), LogStream::out), chunk);
  // Rotating with encoded records not yet committed is refused.
  ASSERT_TRUE(w->rotate());
  auto e = w->encode(LogStream::out, t0, "x\n", buf);
  EXPECT_EQ(e.consumed, 2u);
  EXPECT_FALSE(e.rotate);
  EXPECT_FALSE(w->rotate());
  ASSERT_TRUE(w->repair());
  EXPECT_TRUE(w->rotate());
}

TEST(LogWriter, ReopenRepairsATornRecordAndContinues) {
  TempDir tmp;
  std::string path = tmp / "log";
  {
    auto w = LogWriter::open(tmp.path());
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->append(LogStream::out, t0, "first\nsecond\n"));
  }
  int64_t whole = file_size(path);
  const std::string tail_record = "third line, torn\n";
  {
    auto w = LogWriter::open(tmp.path());
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->append(LogStream::out, t0 + 1, tail_record));
  }
  int64_t full = file_size(path);
  std::string saved = read_file(path);
  // Cut the last record at every length: readers see the two whole
  // records, and a writer reopening cuts the rest and goes on after them.
  for (int64_t cut = whole; cut < full; ++cut) {
    write_file(path, saved.substr(0, static_cast<size_t>(cut)));
    auto before = read_all(tmp.path());
    ASSERT_EQ(joined(before, LogStream::out), "first\nsecond\n") << cut;
    auto w = LogWriter::open(tmp.path());
    ASSERT_TRUE(w) << w.error().message;
    EXPECT_EQ(w->size(), whole) << cut;
    EXPECT_EQ(file_size(path), whole) << cut;
    ASSERT_TRUE(w->append(LogStream::err, t0 + 2, "after\n"));
    auto after = read_all(tmp.path());
    EXPECT_EQ(joined(after, LogStream::out), "first\nsecond\n") << cut;
    EXPECT_EQ(joined(after, LogStream::err), "after\n") << cut;
  }
}

TEST(LogWriter, ReopenRepairsZeroFilledTailAndLeftovers) {
  TempDir tmp;
  {
    auto w = LogWriter::open(tmp.path(), {.max_size = 0, .max_files = 2});
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->append(LogStream::out, t0, "kept\n"));
  }
  int64_t whole = file_size(tmp / "log");
  append_bytes(tmp / "log", std::string(300000, '\0'));  // larger than the backward search
  write_file(tmp / "log.new", "half-made");
  write_file(tmp / "log.7", "beyond max-file");
  EXPECT_EQ(joined(read_all(tmp.path()), LogStream::out), "kept\n");
  auto w = LogWriter::open(tmp.path(), {.max_size = 0, .max_files = 2});
  ASSERT_TRUE(w);
  EXPECT_EQ(file_size(tmp / "log"), whole);
  EXPECT_EQ(file_size(tmp / "log.new"), -1);
  EXPECT_EQ(file_size(tmp / "log.7"), -1);
  ASSERT_TRUE(w->append(LogStream::out, t0, "more\n"));
  EXPECT_EQ(joined(read_all(tmp.path()), LogStream::out), "kept\nmore\n");
}

TEST(LogWriter, ForeignFileIsSetAside) {
  TempDir tmp;
  write_file(tmp / "log", "{\"log\":\"json-file\"}\n");
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(read_file(tmp / "log.corrupt"), "{\"log\":\"json-file\"}\n");
  ASSERT_TRUE(w->append(LogStream::out, t0, "fresh\n"));
  EXPECT_EQ(joined(read_all(tmp.path()), LogStream::out), "fresh\n");
}

// append_async from two coroutines (stdout and stderr of one container) on
// one reactor: writes through io_uring, rotation on the pool, the turns
// keep each call's records together and in call order.
io::Task<void> pump(LogWriter* w, LogStream s, int n, int* failures) {
  for (int i = 0; i < n; ++i) {
    std::string chunk = str_cat(s == LogStream::out ? "out " : "err ", i, "\n");
    if (i % 3 == 0) chunk += str_cat(s == LogStream::out ? "OUT " : "ERR ", i, "\n");
    Result<void> r = co_await w->append_async(s, t0 + i, chunk);
    if (!r) ++*failures;
  }
  Result<void> tail = co_await w->append_async(s, t0 + n, "unended");
  if (!tail) ++*failures;
  Result<void> ended = co_await w->end_stream_async(s, t0 + n + 1);
  if (!ended) ++*failures;
}

io::Task<void> both(LogWriter* w, int n, int* failures) {
  int done = 0;
  auto wrap = [](io::Task<void> t, int* d) -> io::Task<void> {
    co_await std::move(t);
    ++*d;
  };
  io::spawn(wrap(pump(w, LogStream::out, n, failures), &done));
  io::spawn(wrap(pump(w, LogStream::err, n, failures), &done));
  while (done < 2) co_await io::sleep(std::chrono::milliseconds(1));
}

TEST(LogWriter, AppendAsyncThroughTheReactor) {
  auto reactor = io::Reactor::create({});
  if (!reactor) GTEST_SKIP() << "no io_uring: " << reactor.error().message;
  TempDir tmp;
  auto w = LogWriter::open(tmp.path(), {.max_size = 1000, .max_files = 1000});
  ASSERT_TRUE(w);
  int failures = 0;
  const int n = 300;
  (*reactor)->run_until(both(&*w, n, &failures));
  EXPECT_EQ(failures, 0);
  std::string want_out, want_err;
  for (int i = 0; i < n; ++i) {
    want_out += str_cat("out ", i, "\n");
    want_err += str_cat("err ", i, "\n");
    if (i % 3 == 0) {
      want_out += str_cat("OUT ", i, "\n");
      want_err += str_cat("ERR ", i, "\n");
    }
  }
  want_out += "unended";
  want_err += "unended";
  auto all = read_all(tmp.path());
  EXPECT_EQ(joined(all, LogStream::out), want_out);
  EXPECT_EQ(joined(all, LogStream::err), want_err);
  ASSERT_GE(all.size(), 2u);
  EXPECT_EQ(all.back().bytes, "unended");
  EXPECT_EQ(all.back().time_ns, t0 + n + 1);  // stamped at EOF
  auto rotated = list_rotated_logs(tmp.path());
  ASSERT_TRUE(rotated);
  EXPECT_GT(rotated->size(), 5u);
  // One call's two lines are adjacent: the turns do not interleave them.
  for (size_t i = 0; i + 1 < all.size(); ++i) {
    if (all[i + 1].bytes.starts_with("OUT ")) {
      EXPECT_TRUE(all[i].bytes.starts_with("out ")) << i;
    }
    if (all[i + 1].bytes.starts_with("ERR ")) {
      EXPECT_TRUE(all[i].bytes.starts_with("err ")) << i;
    }
  }
}

}  // namespace
}  // namespace berth::core::container
