// The reactor: timers, cross-thread post(), offload() to the blocking pool,
// switch_to() between the reactors of a group, socket reads with a linked
// timeout, and a full submission queue.
#include "io/reactor.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/pool.h"
#include "tests/testlib/testlib.h"

namespace berth::io {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// A reactor owned by the test thread, driven with run_until().
std::unique_ptr<Reactor> make_reactor(unsigned entries = 256) {
  auto r = Reactor::create({.entries = entries});
  if (!r) ADD_FAILURE() << r.error().message;
  return r ? std::move(*r) : nullptr;
}

// A one-shot flag a reactor thread sets and the test thread waits for.
class Done {
 public:
  void set() {
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

// --- timers -----------------------------------------------------------------

Task<void> sleep_and_record(int ms, std::vector<int>* order, int* left) {
  int rc = co_await io::sleep(std::chrono::milliseconds(ms));
  EXPECT_EQ(rc, -ETIME);
  order->push_back(ms);
  --*left;
}

Task<void> wait_until_zero(int* left) {
  for (int i = 0; i < 1000 && *left > 0; ++i) co_await io::sleep(5ms);
}

TEST(ReactorTest, SleepsCompleteInDeadlineOrder) {
  auto r = make_reactor();
  ASSERT_TRUE(r);
  std::vector<int> order;
  int left = 4;
  spawn(sleep_and_record(90, &order, &left));
  spawn(sleep_and_record(30, &order, &left));
  spawn(sleep_and_record(60, &order, &left));
  spawn(sleep_and_record(0, &order, &left));
  r->run_until(wait_until_zero(&left));
  EXPECT_EQ(order, (std::vector<int>{0, 30, 60, 90}));
}

Task<Clock::duration> timed_sleep(Duration d) {
  auto start = Clock::now();
  co_await io::sleep(d);
  co_return Clock::now() - start;
}

TEST(ReactorTest, SleepNeverReturnsEarly) {
  auto r = make_reactor();
  ASSERT_TRUE(r);
  for (auto d : {1ms, 20ms, 50ms}) {
    Clock::duration took = r->run_until(timed_sleep(d));
    EXPECT_GE(took, d);
  }
}

TEST(ReactorTest, RunUntilReturnsTheValueAndCanRunAgain) {
  auto r = make_reactor();
  ASSERT_TRUE(r);
  EXPECT_EQ(Reactor::current(), r.get());
  auto value = [](int x) -> Task<int> {
    co_await io::sleep(1ms);
    co_return x * 2;
  };
  EXPECT_EQ(r->run_until(value(21)), 42);
  EXPECT_EQ(r->run_until(value(5)), 10);
  EXPECT_FALSE(r->stopping());
}

TEST(ReactorTest, ManySleepsOverflowTheSubmissionQueue) {
  auto r = make_reactor(16);
  ASSERT_TRUE(r);
  std::vector<int> order;
  constexpr int kCount = 2000;
  int left = kCount;
  for (int i = 0; i < kCount; ++i) spawn(sleep_and_record(i % 7, &order, &left));
  r->run_until(wait_until_zero(&left));
  EXPECT_EQ(left, 0);
  EXPECT_EQ(order.size(), static_cast<size_t>(kCount));
}

// --- recv with a linked timeout ------------------------------------------------

struct SocketPair {
  unique_fd a, b;
  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0) {
      a.reset(fds[0]);
      b.reset(fds[1]);
    }
  }
};

Task<int> recv_into(int fd, std::string* out, std::optional<Duration> timeout) {
  char buf[64];
  int n = co_await io::recv(fd, buf, sizeof buf, timeout);
  if (n > 0) out->assign(buf, static_cast<size_t>(n));
  co_return n;
}

TEST(ReactorTest, RecvTimesOutWithEcanceled) {
  auto r = make_reactor();
  ASSERT_TRUE(r);
  SocketPair p;
  ASSERT_TRUE(p.a);
  std::string got;
  EXPECT_EQ(r->run_until(recv_into(p.a.get(), &got, 30ms)), -ECANCELED);
  // The socket is still usable afterwards and the timeout does not fire
  // when data is there.
  ASSERT_EQ(::send(p.b.get(), "hi", 2, 0), 2);
  EXPECT_EQ(r->run_until(recv_into(p.a.get(), &got, 5s)), 2);
  EXPECT_EQ(got, "hi");
}

TEST(ReactorTest, RecvGetsDataThatArrivesBeforeTheTimeout) {
  auto r = make_reactor();
  ASSERT_TRUE(r);
  SocketPair p;
  ASSERT_TRUE(p.a);
  int writer_fd = p.b.get();
  std::thread writer([writer_fd] {
    std::this_thread::sleep_for(30ms);
    [[maybe_unused]] auto n = ::send(writer_fd, "late", 4, 0);
  });
  std::string got;
  int n = r->run_until(recv_into(p.a.get(), &got, 10s));
  writer.join();
  EXPECT_EQ(n, 4);
  EXPECT_EQ(got, "late");
}

TEST(ReactorTest, RecvSeesEof) {
  auto r = make_reactor();
  ASSERT_TRUE(r);
  SocketPair p;
  ASSERT_TRUE(p.a);
  p.b.reset();
  std::string got;
  EXPECT_EQ(r->run_until(recv_into(p.a.get(), &got, 5s)), 0);
}

Task<void> recv_counted(int fd, std::optional<Duration> timeout, std::atomic<int>* timed_out,
                        int* left) {
  char c;
  int n = co_await io::recv(fd, &c, 1, timeout);
  if (n == -ECANCELED) timed_out->fetch_add(1);
  --*left;
}

TEST(ReactorTest, ManyLinkedTimeoutsWithASmallRing) {
  // Each recv takes two SQEs (recv + linked timeout); with a 16-entry ring
  // the pairs must never be split by a flush.
  auto r = make_reactor(16);
  ASSERT_TRUE(r);
  constexpr int kPairs = 200;
  std::vector<SocketPair> pairs(kPairs);
  std::atomic<int> timed_out{0};
  int left = kPairs;
  for (auto& p : pairs) {
    ASSERT_TRUE(p.a);
    spawn(recv_counted(p.a.get(), 20ms, &timed_out, &left));
  }
  r->run_until(wait_until_zero(&left));
  EXPECT_EQ(left, 0);
  EXPECT_EQ(timed_out.load(), kPairs);
}

// --- post() --------------------------------------------------------------------

TEST(ReactorTest, PostFromOtherThreadsRunsOnTheReactorInOrder) {
  ReactorGroup g;
  ASSERT_TRUE(g.start(1, [](Reactor&) {}));
  Reactor* r = &g.at(0);
  std::thread::id reactor_thread;
  Done started;
  r->post([&] {
    reactor_thread = std::this_thread::get_id();
    started.set();
  });
  ASSERT_TRUE(started.wait());
  EXPECT_NE(reactor_thread, std::this_thread::get_id());

  constexpr int kThreads = 4, kPerThread = 2000;
  std::vector<std::vector<int>> seen(kThreads);  // touched on the reactor only
  std::atomic<int> total{0};
  std::atomic<int> wrong_thread{0};
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        r->post([&, t, i] {
          if (std::this_thread::get_id() != reactor_thread || Reactor::current() != r)
            wrong_thread.fetch_add(1);
          seen[static_cast<size_t>(t)].push_back(i);
          total.fetch_add(1);
        });
    });
  }
  for (auto& p : posters) p.join();
  ASSERT_TRUE(wait_for([&] { return total.load() == kThreads * kPerThread; }, 10s))
      << total.load() << " of " << kThreads * kPerThread << " posted calls ran";
  g.stop_all();
  g.join();
  EXPECT_EQ(wrong_thread.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    std::vector<int> expected(kPerThread);
    for (int i = 0; i < kPerThread; ++i) expected[static_cast<size_t>(i)] = i;
    EXPECT_EQ(seen[static_cast<size_t>(t)], expected) << "thread " << t << " out of order";
  }
}

TEST(ReactorTest, CurrentIsNullOffReactorThreads) {
  std::thread t([] { EXPECT_EQ(Reactor::current(), nullptr); });
  t.join();
}

TEST(ReactorTest, GroupStopsAndJoins) {
  ReactorGroup g;
  std::atomic<int> inits{0};
  ASSERT_TRUE(g.start(3, [&](Reactor& r) { inits.fetch_add(1); }));
  EXPECT_EQ(g.size(), 3);
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) g.at(i).post([&] { ran.fetch_add(1); });
  EXPECT_TRUE(wait_for([&] { return ran.load() == 3; }, 5s));
  EXPECT_EQ(inits.load(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g.at(i).index(), i);
  g.stop_all();
  g.join();
}

// --- offload() ------------------------------------------------------------------

struct OffloadResult {
  std::thread::id before, after, worker;
  Reactor* before_reactor = nullptr;
  Reactor* after_reactor = nullptr;
  int value = 0;
  bool void_ran = false;
  std::thread::id after_void;
};

Task<void> offload_task(OffloadResult* out, Done* done) {
  out->before = std::this_thread::get_id();
  out->before_reactor = Reactor::current();
  auto call = [out] {
    out->worker = std::this_thread::get_id();
    std::this_thread::sleep_for(10ms);  // a blocking call
    return 42;
  };
  out->value = co_await offload(std::move(call));
  out->after = std::this_thread::get_id();
  out->after_reactor = Reactor::current();
  auto set_flag = [out] { out->void_ran = true; };
  co_await offload(std::move(set_flag));
  out->after_void = std::this_thread::get_id();
  done->set();
}

TEST(ReactorTest, OffloadResumesOnTheSameReactorThread) {
  ReactorGroup g;
  ASSERT_TRUE(g.start(2, [](Reactor&) {}));
  OffloadResult res[2];
  Done done[2];
  for (int i = 0; i < 2; ++i) {
    OffloadResult* out = &res[i];
    Done* d = &done[i];
    g.at(i).post([out, d] { spawn(offload_task(out, d)); });
  }
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(done[i].wait()) << "offload on reactor " << i;
  g.stop_all();
  g.join();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(res[i].value, 42);
    EXPECT_TRUE(res[i].void_ran);
    EXPECT_NE(res[i].worker, res[i].before) << "ran on the reactor thread";
    EXPECT_EQ(res[i].after, res[i].before);
    EXPECT_EQ(res[i].after_void, res[i].before);
    EXPECT_EQ(res[i].after_reactor, res[i].before_reactor);
  }
  EXPECT_NE(res[0].before, res[1].before);
}

TEST(ReactorTest, DirectBlockingPoolRunsEverything) {
  BlockingPool pool(3);
  std::atomic<int> n{0};
  for (int i = 0; i < 100; ++i) pool.submit([&] { n.fetch_add(1); });
  EXPECT_TRUE(wait_for([&] { return n.load() == 100; }, 5s));
}

// --- switch_to() -------------------------------------------------------------------

struct SwitchResult {
  Reactor* start = nullptr;
  Reactor* on_target = nullptr;
  Reactor* after_sleep = nullptr;
  Reactor* back = nullptr;
  Reactor* same = nullptr;
  std::thread::id start_thread, target_thread, back_thread;
};

Task<void> switch_task(Reactor* home, Reactor* other, SwitchResult* out, Done* done) {
  out->start = Reactor::current();
  out->start_thread = std::this_thread::get_id();
  co_await switch_to(other);
  out->on_target = Reactor::current();
  out->target_thread = std::this_thread::get_id();
  // I/O started after the switch completes on the new reactor.
  co_await io::sleep(1ms);
  out->after_sleep = Reactor::current();
  co_await switch_to(home);
  out->back = Reactor::current();
  out->back_thread = std::this_thread::get_id();
  co_await switch_to(home);  // already there: no suspension
  out->same = Reactor::current();
  done->set();
}

TEST(ReactorTest, SwitchToMovesBetweenReactors) {
  ReactorGroup g;
  ASSERT_TRUE(g.start(2, [](Reactor&) {}));
  Reactor* r0 = &g.at(0);
  Reactor* r1 = &g.at(1);
  SwitchResult res;
  Done done;
  r0->post([&] { spawn(switch_task(r0, r1, &res, &done)); });
  ASSERT_TRUE(done.wait());
  g.stop_all();
  g.join();
  EXPECT_EQ(res.start, r0);
  EXPECT_EQ(res.on_target, r1);
  EXPECT_EQ(res.after_sleep, r1);
  EXPECT_EQ(res.back, r0);
  EXPECT_EQ(res.same, r0);
  EXPECT_NE(res.start_thread, res.target_thread);
  EXPECT_EQ(res.start_thread, res.back_thread);
}

Task<void> ping_pong(Reactor* a, Reactor* b, int rounds, std::atomic<int>* misplaced, Done* done) {
  for (int i = 0; i < rounds; ++i) {
    co_await switch_to(i % 2 ? a : b);
    if (Reactor::current() != (i % 2 ? a : b)) misplaced->fetch_add(1);
  }
  done->set();
}

TEST(ReactorTest, ManySwitchesBackAndForth) {
  ReactorGroup g;
  ASSERT_TRUE(g.start(2, [](Reactor&) {}));
  Reactor* a = &g.at(0);
  Reactor* b = &g.at(1);
  std::atomic<int> misplaced{0};
  Done done[4];
  for (int k = 0; k < 4; ++k) {
    Done* d = &done[k];
    Reactor* home = k % 2 ? b : a;
    home->post([a, b, &misplaced, d] { spawn(ping_pong(a, b, 1000, &misplaced, d)); });
  }
  for (auto& d : done) ASSERT_TRUE(d.wait(10s));
  g.stop_all();
  g.join();
  EXPECT_EQ(misplaced.load(), 0);
}

}  // namespace
}  // namespace berth::io
