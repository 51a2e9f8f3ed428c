// ReadyPool: fills to its target, hands each thing out once, refills after a
// take on the blocking pool, turns itself off when making fails, and hands
// back what is left on release.
#include "io/ready_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

namespace berth::io {
namespace {

using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& done) {  // bounded: 5 s
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

TEST(ReadyPool, FillsTakesAndRefills) {
  std::atomic<int> next{0};
  ReadyPool<int> pool("number", 3, [&]() -> Result<int> { return next.fetch_add(1); });
  pool.fill();
  EXPECT_EQ(pool.ready(), 3);
  std::set<int> seen;
  for (int i = 0; i < 10; ++i) {
    std::optional<int> v;
    ASSERT_TRUE(eventually([&] { return (v = pool.take()).has_value(); })) << i;
    EXPECT_TRUE(seen.insert(*v).second) << *v << " handed out twice";
  }
  EXPECT_TRUE(eventually([&] { return pool.ready() == 3; }));
  auto left = pool.release();
  EXPECT_EQ(left.size(), 3u);
  EXPECT_EQ(pool.ready(), 0);
  EXPECT_FALSE(pool.take());  // released: off
}

TEST(ReadyPool, AFailureTurnsItOff) {
  std::atomic<int> calls{0};
  ReadyPool<int> pool("failing", 2, [&]() -> Result<int> {
    if (calls.fetch_add(1) >= 1) return fail(Errc::io, "no more");
    return 7;
  });
  pool.fill();
  EXPECT_EQ(pool.ready(), 1);
  EXPECT_EQ(pool.take(), std::optional<int>(7));
  EXPECT_FALSE(pool.take());
  EXPECT_EQ(calls.load(), 2);  // it stopped trying
}

TEST(ReadyPool, ZeroTargetIsOff) {
  int calls = 0;
  ReadyPool<int> pool("off", 0, [&]() -> Result<int> { return ++calls; });
  pool.fill();
  EXPECT_FALSE(pool.take());
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace berth::io
