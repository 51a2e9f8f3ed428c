// LogReader: round trips (binary, long lines, partial lines), tail across
// files and its cost on a big log, damage in the middle of a file, and
// follow: new records, rotation under a reader, finish(), deadlines.
#include "core/container/log_reader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/base/strings.h"
#include "core/container/log_files.h"
#include "tests/core/log_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::core::container {
namespace {

using berth::testing::TempDir;
using namespace testing;
using namespace std::chrono_literals;

TEST(LogReader, MissingDirectoryAndEmptyLog) {
  TempDir tmp;
  auto r = LogReader::open(tmp / "nope", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_TRUE(read_all(tmp.path()).empty());  // no log yet
  ASSERT_TRUE(LogWriter::open(tmp.path()));
  EXPECT_TRUE(read_all(tmp.path()).empty());  // a log with a header only
}

TEST(LogReader, BinaryDataComesBackByteForByte) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path(), {.max_size = 4096, .max_files = 1000});
  ASSERT_TRUE(w);
  std::mt19937 rng(7);
  std::string out_all, err_all;
  for (int i = 0; i < 500; ++i) {
    std::string chunk(rng() % 300, '\0');
    for (char& c : chunk) {
      uint32_t v = rng() % 10;
      c = v == 0 ? '\n' : v == 1 ? '\0' : v == 2 ? '\r' : static_cast<char>(rng());
    }
    LogStream s = rng() % 2 ? LogStream::out : LogStream::err;
    (s == LogStream::out ? out_all : err_all) += chunk;
    ASSERT_TRUE(w->append(s, t0 + i, chunk));
  }
  // No trailing newline on either stream.
  ASSERT_TRUE(w->append(LogStream::out, t0 + 999, std::string("\0end", 4)));
  out_all += std::string("\0end", 4);
  ASSERT_TRUE(w->append(LogStream::err, t0 + 999, "\xff"));
  err_all += "\xff";

  auto all = read_all(tmp.path());
  EXPECT_EQ(joined(all, LogStream::out), out_all);
  EXPECT_EQ(joined(all, LogStream::err), err_all);
  // The raw (TTY) formatting of one stream is that stream.
  auto only_out = read_all(tmp.path(), {.show_stderr = false});
  EXPECT_EQ(formatted(only_out, {.tty = true}), out_all);
  // Every message but the last of each stream ends with a newline or is a
  // full 16 KiB piece; the last ones are the unended lines, flagged partial.
  ASSERT_GE(all.size(), 2u);
  for (size_t i = 0; i + 2 < all.size(); ++i) {
    if (all[i].partial) {
      EXPECT_EQ(all[i].bytes.size(), log_piece_size) << i;
    } else {
      EXPECT_EQ(all[i].bytes.back(), '\n') << i;
    }
  }
  EXPECT_TRUE(all[all.size() - 1].partial);
  EXPECT_TRUE(all[all.size() - 2].partial);
}

TEST(LogReader, LinesAcrossChunksAreOneMessage) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->append(LogStream::out, t0, "hel"));
  ASSERT_TRUE(w->append(LogStream::err, t0 + 1, "oops\n"));
  ASSERT_TRUE(w->append(LogStream::out, t0 + 2, "lo\nwor"));
  ASSERT_TRUE(w->append(LogStream::out, t0 + 3, "ld\n"));
  auto all = read_all(tmp.path());
  ASSERT_EQ(all.size(), 3u);
  // Completion order, stamped when the newline came (as docker's copier).
  EXPECT_EQ(all[0].bytes, "oops\n");
  EXPECT_EQ(all[1].bytes, "hello\n");
  EXPECT_EQ(all[1].time_ns, t0 + 2);
  EXPECT_EQ(all[2].bytes, "world\n");
  EXPECT_EQ(all[2].time_ns, t0 + 3);
  EXPECT_FALSE(all[2].partial);
}

TEST(LogReader, EndOfStreamEndsTheLineAcrossARestart) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->append(LogStream::out, t0, "Password: "));
  ASSERT_TRUE(w->end_stream(LogStream::out, t0 + 7));
  // The container is started again; the writer reopens the same log.
  w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->append(LogStream::out, t0 + 9, "second run\n"));
  auto all = read_all(tmp.path());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].bytes, "Password: ");
  EXPECT_TRUE(all[0].partial);
  EXPECT_EQ(all[0].time_ns, t0 + 7);
  EXPECT_EQ(all[1].bytes, "second run\n");
  EXPECT_EQ(all[1].time_ns, t0 + 9);
  auto last = read_all(tmp.path(), {.tail = 1});
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].bytes, "second run\n");
  last = read_all(tmp.path(), {.tail = 2});
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0].bytes, "Password: ");
  // Following, the line that ended at EOF counts for tail too.
  auto r = LogReader::open(tmp.path(), {.tail = 2, .follow = true});
  ASSERT_TRUE(r);
  std::vector<LogMessage> out;
  ASSERT_TRUE((*r)->next(out, LogReader::Clock::now() + 1s));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].bytes, "Password: ");
}

TEST(LogReader, LargeLinesComeIn16KiBPiecesWithTheFirstPiecesTime) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path(), {.max_size = 20000, .max_files = 100});
  ASSERT_TRUE(w);
  std::string line(100000, 'L');
  ASSERT_TRUE(w->append(LogStream::out, t0, std::string_view(line).substr(0, 50000)));
  ASSERT_TRUE(w->append(LogStream::out, t0 + 5, std::string_view(line).substr(50000)));
  ASSERT_TRUE(w->append(LogStream::out, t0 + 9, "\nnext\n"));
  auto all = read_all(tmp.path());
  ASSERT_EQ(all.size(), 8u);  // 6 pieces of 16384, the rest + "\n", "next\n"
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(all[i].bytes.size(), 16384u);
    EXPECT_TRUE(all[i].partial);
    EXPECT_EQ(all[i].time_ns, t0);  // docker gives every piece the first one's time
  }
  EXPECT_EQ(all[6].bytes, std::string(100000 - 6 * 16384, 'L') + "\n");
  EXPECT_EQ(all[6].time_ns, t0);
  EXPECT_FALSE(all[6].partial);
  EXPECT_EQ(all[7].bytes, "next\n");
  EXPECT_EQ(all[7].time_ns, t0 + 9);
  EXPECT_EQ(joined(all, LogStream::out), line + "\nnext\n");
  // tail counts the pieces as docker counts its messages.
  auto last2 = read_all(tmp.path(), {.tail = 2});
  ASSERT_EQ(last2.size(), 2u);
  EXPECT_EQ(last2[0].bytes, all[6].bytes);
}

TEST(LogReader, TailAcrossFiles) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path(), {.max_size = 300, .max_files = 100});
  ASSERT_TRUE(w);
  std::vector<std::string> lines;
  for (int i = 0; i < 100; ++i) {
    lines.push_back(str_cat("line ", i, "\n"));
    ASSERT_TRUE(w->append(i % 4 == 3 ? LogStream::err : LogStream::out, t0 + i, lines.back()));
  }
  for (int n : {1, 2, 7, 8, 9, 50, 99, 100, 101, 1000}) {
    auto got = read_all(tmp.path(), {.tail = n});
    size_t want = std::min<size_t>(n, 100);
    ASSERT_EQ(got.size(), want) << n;
    for (size_t i = 0; i < want; ++i) EXPECT_EQ(got[i].bytes, lines[100 - want + i]) << n;
  }
  EXPECT_TRUE(read_all(tmp.path(), {.tail = 0}).empty());
  // tail counts both streams, then the stream filter applies (docker).
  auto got = read_all(tmp.path(), {.show_stdout = false, .tail = 8});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].bytes, "line 95\n");
  EXPECT_EQ(got[1].bytes, "line 99\n");
}

TEST(LogReader, TailWithPartialLinesInterleaved) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path(), {.max_size = 100, .max_files = 100});
  ASSERT_TRUE(w);
  // stdout's line is begun before stderr's lines and ended after them, in
  // other files.
  ASSERT_TRUE(w->append(LogStream::out, t0, "start of a "));
  ASSERT_TRUE(w->append(LogStream::out, t0 + 1, "long "));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(w->append(LogStream::err, t0 + 2 + i, "e\n"));
  ASSERT_TRUE(w->append(LogStream::out, t0 + 10, "line\n"));
  ASSERT_TRUE(w->append(LogStream::err, t0 + 11, "last\n"));
  auto got = read_all(tmp.path(), {.tail = 2});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].bytes, "start of a long line\n");
  EXPECT_EQ(got[0].time_ns, t0 + 10);
  EXPECT_EQ(got[1].bytes, "last\n");
  // A line without its end yet is the newest message (not following).
  ASSERT_TRUE(w->append(LogStream::out, t0 + 12, "prompt> "));
  got = read_all(tmp.path(), {.tail = 1});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, "prompt> ");
  EXPECT_TRUE(got[0].partial);
}

TEST(LogReader, TailOfABigLogReadsOnlyItsEnd) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path(), {.max_size = 8 << 20, .max_files = 3});
  ASSERT_TRUE(w);
  std::string chunk;
  const int total = 200000;
  for (int i = 0; i < total; ++i) {
    str_append(chunk, "this is log line number ", i, " of the big log test\n");
    if (chunk.size() > 60000 || i + 1 == total) {
      ASSERT_TRUE(w->append(i % 2 ? LogStream::out : LogStream::err, t0 + i, chunk));
      chunk.clear();
    }
  }
  int64_t on_disk = file_size(tmp / "log") + file_size(tmp / "log.1");
  ASSERT_GT(on_disk, 10 << 20);
  for (int n : {10, 1000}) {
    LogReader::Stats stats;
    auto got = read_all(tmp.path(), {.tail = n}, &stats);
    ASSERT_EQ(got.size(), static_cast<size_t>(n));
    EXPECT_EQ(got.back().bytes,
              str_cat("this is log line number ", total - 1, " of the big log test\n"));
    EXPECT_EQ(got.front().bytes,
              str_cat("this is log line number ", total - n, " of the big log test\n"));
    // The lines are about 50 bytes (+24 of record): what is read is the
    // tail itself, twice (backwards, then forwards), plus a block or two.
    uint64_t budget = 2 * 80 * n + 96 * 1024;
    EXPECT_LT(stats.bytes_read, budget) << n << " of " << on_disk;
    EXPECT_LE(stats.files_opened, 3u);
  }
  LogReader::Stats all_stats;
  auto everything = read_all(tmp.path(), {}, &all_stats);
  EXPECT_GT(all_stats.bytes_read, static_cast<uint64_t>(on_disk) - 1024);
}

TEST(LogReader, DamageInTheMiddleIsSkipped) {
  TempDir tmp;
  {
    auto w = LogWriter::open(tmp.path());
    ASSERT_TRUE(w);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(w->append(LogStream::out, t0 + i, str_cat(i, "\n")));
  }
  std::string bytes = read_file(tmp / "log");
  // Record i starts at 16 + sum of sizes; flip a payload byte of record 5.
  size_t off = log_header_size;
  for (int i = 0; i < 5; ++i) off += log_record_overhead + str_cat(i, "\n").size();
  bytes[off + 20] ^= 0x40;
  write_file(tmp / "log", bytes);
  LogReader::Stats stats;
  auto got = read_all(tmp.path(), {}, &stats);
  ASSERT_EQ(got.size(), 19u);
  EXPECT_EQ(got[4].bytes, "4\n");
  EXPECT_EQ(got[5].bytes, "6\n");
  EXPECT_GT(stats.corrupt_skips, 0u);
  // Walking backwards for tail crosses it too.
  auto last = read_all(tmp.path(), {.tail = 16});
  ASSERT_EQ(last.size(), 16u);
  EXPECT_EQ(last[0].bytes, "3\n");
  EXPECT_EQ(last[15].bytes, "19\n");
}

TEST(LogReader, SinceAndUntil) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(w->append(LogStream::out, t0 + i * 10, str_cat(i, "\n")));
  auto got = read_all(tmp.path(), {.since_ns = t0 + 30, .until_ns = t0 + 60});
  ASSERT_EQ(got.size(), 4u);  // both ends inclusive
  EXPECT_EQ(got.front().bytes, "3\n");
  EXPECT_EQ(got.back().bytes, "6\n");
  got = read_all(tmp.path(), {.since_ns = t0 + 31});
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got.front().bytes, "4\n");
  EXPECT_TRUE(read_all(tmp.path(), {.since_ns = t0 + 91}).empty());
  EXPECT_TRUE(read_all(tmp.path(), {.until_ns = t0 - 1}).empty());
}

// --- follow ----------------------------------------------------------------

TEST(LogReader, FollowSeesNewRecordsAndEndsAfterFinish) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->append(LogStream::out, t0, "old 1\nold 2\n"));
  auto r = LogReader::open(tmp.path(), {.tail = 1, .follow = true});
  ASSERT_TRUE(r);
  std::vector<LogMessage> out;
  auto st = (*r)->next(out, LogReader::Clock::now() + 5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LogReadStatus::data);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bytes, "old 2\n");
  // Nothing new: idle at the deadline.
  out.clear();
  auto t = LogReader::Clock::now();
  st = (*r)->next(out, t + 100ms);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LogReadStatus::idle);
  EXPECT_GE(LogReader::Clock::now() - t, 100ms);
  EXPECT_TRUE(out.empty());
  // A write wakes a waiting reader well before its deadline.
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(w->append(LogStream::err, t0 + 1, "new\npart"));
  });
  t = LogReader::Clock::now();
  st = (*r)->next(out, t + 10s);
  writer.join();
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LogReadStatus::data);
  EXPECT_LT(LogReader::Clock::now() - t, 5s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bytes, "new\n");
  // The unended line comes out at the end, after finish().
  out.clear();
  (*r)->finish();
  st = (*r)->next(out, LogReader::Clock::now() + 5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LogReadStatus::end);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bytes, "part");
  EXPECT_TRUE(out[0].partial);
}

TEST(LogReader, FollowFromTheEndKeepsALineBegunBefore) {
  for (int tail : {0, 1}) {
    TempDir tmp;
    auto w = LogWriter::open(tmp.path(), {.max_size = 200, .max_files = 10});
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->append(LogStream::out, t0, "old line\nhalf of "));
    ASSERT_TRUE(w->append(LogStream::err, t0 + 1, "err line\nerr half "));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(w->append(LogStream::err, t0 + 2, "and more "));
    auto r = LogReader::open(tmp.path(), {.tail = tail, .follow = true});
    ASSERT_TRUE(r);
    std::vector<LogMessage> out;
    auto st = (*r)->next(out, LogReader::Clock::now() + 50ms);
    ASSERT_TRUE(st);
    if (tail == 0) {
      EXPECT_TRUE(out.empty());
    } else {
      ASSERT_EQ(out.size(), 1u);
      EXPECT_EQ(out[0].bytes, "err line\n");
    }
    out.clear();
    ASSERT_TRUE(w->append(LogStream::out, t0 + 3, "the line\n"));
    ASSERT_TRUE(w->append(LogStream::err, t0 + 4, "end\n"));
    (*r)->finish();
    for (;;) {
      st = (*r)->next(out, LogReader::Clock::now() + 5s);
      ASSERT_TRUE(st);
      if (*st == LogReadStatus::end) break;
    }
    ASSERT_EQ(out.size(), 2u) << tail;
    EXPECT_EQ(out[0].bytes, "half of the line\n");
    EXPECT_EQ(out[1].bytes, "err half and more and more and more and more and more end\n");
  }
}

TEST(LogReader, FinishWakesAWaitingReader) {
  TempDir tmp;
  ASSERT_TRUE(LogWriter::open(tmp.path()));
  auto r = LogReader::open(tmp.path(), {.follow = true});
  ASSERT_TRUE(r);
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    (*r)->finish();
  });
  std::vector<LogMessage> out;
  auto t = LogReader::Clock::now();
  auto st = (*r)->next(out, t + 20s);
  stopper.join();
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LogReadStatus::end);
  EXPECT_LT(LogReader::Clock::now() - t, 5s);
}

TEST(LogReader, FollowWaitsForTheLogToAppear) {
  TempDir tmp;
  auto r = LogReader::open(tmp.path(), {.follow = true});
  ASSERT_TRUE(r);
  std::thread writer([&] {
    std::this_thread::sleep_for(30ms);
    auto w = LogWriter::open(tmp.path());
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->append(LogStream::out, t0, "hello\n"));
  });
  std::vector<LogMessage> out;
  auto deadline = LogReader::Clock::now() + 10s;
  while (out.empty() && LogReader::Clock::now() < deadline) {
    auto st = (*r)->next(out, deadline);
    ASSERT_TRUE(st);
  }
  writer.join();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bytes, "hello\n");
}

TEST(LogReader, UntilEndsAFollow) {
  TempDir tmp;
  auto w = LogWriter::open(tmp.path());
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->append(LogStream::out, t0, "a\n"));
  auto r = LogReader::open(tmp.path(), {.until_ns = t0 + 5, .follow = true});
  ASSERT_TRUE(r);
  std::vector<LogMessage> out;
  auto st = (*r)->next(out, LogReader::Clock::now() + 1s);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LogReadStatus::data);
  ASSERT_TRUE(w->append(LogStream::out, t0 + 5, "b\n"));
  ASSERT_TRUE(w->append(LogStream::out, t0 + 6, "c\n"));
  st = (*r)->next(out, LogReader::Clock::now() + 5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, LogReadStatus::end);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].bytes, "b\n");
}

// A writer thread appending and rotating while a reader follows. The writer
// stays at most `lag` lines ahead of the reader so that no file is dropped
// (max-file) before the reader has opened it: then every line must arrive,
// in order, once.
void follow_across_rotation(int max_files, int lag) {
  TempDir tmp;
  const int total = 3000;
  auto w = LogWriter::open(tmp.path(), {.max_size = 1024, .max_files = max_files});
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->append(LogStream::out, t0, "before the reader\n"));
  auto r = LogReader::open(tmp.path(), {.tail = 1, .follow = true});
  ASSERT_TRUE(r);
  std::atomic<int> seen{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < total && !stop; ++i) {
      while (i - seen.load() > lag && !stop) std::this_thread::sleep_for(100us);
      std::string line = str_cat("follow line ", i, "\n");
      // Some lines in two writes, across a rotation at times.
      if (i % 7 == 0) {
        ASSERT_TRUE(w->append(LogStream::out, t0 + i, std::string_view(line).substr(0, 5)));
        ASSERT_TRUE(w->append(LogStream::out, t0 + i, std::string_view(line).substr(5)));
      } else {
        ASSERT_TRUE(w->append(i % 5 ? LogStream::out : LogStream::err, t0 + i, line));
      }
    }
    (*r)->finish();
  });
  std::vector<LogMessage> got;
  auto deadline = LogReader::Clock::now() + 60s;
  bool ended = false;
  while (!ended && LogReader::Clock::now() < deadline) {
    std::vector<LogMessage> batch;
    auto st = (*r)->next(batch, LogReader::Clock::now() + 200ms);
    ASSERT_TRUE(st) << st.error().message;
    for (auto& m : batch) got.push_back(std::move(m));
    seen = static_cast<int>(got.size()) - 1;
    ended = *st == LogReadStatus::end;
  }
  stop = true;
  writer.join();
  EXPECT_TRUE(ended) << "timed out with " << got.size() << " messages";
  ASSERT_EQ(got.size(), static_cast<size_t>(total + 1));
  EXPECT_EQ(got[0].bytes, "before the reader\n");
  for (int i = 0; i < total; ++i) {
    ASSERT_EQ(got[i + 1].bytes, str_cat("follow line ", i, "\n")) << i;
  }
  auto rotated = list_rotated_logs(tmp.path());
  ASSERT_TRUE(rotated);
  EXPECT_LE(rotated->size(), static_cast<size_t>(max_files - 1));
}

TEST(LogReader, FollowAcrossRotation) {
  follow_across_rotation(3, 20);
}

TEST(LogReader, FollowAcrossRotationWithOneFile) {
  follow_across_rotation(1, 5);
}

}  // namespace
}  // namespace berth::core::container
