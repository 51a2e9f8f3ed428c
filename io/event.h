// Event: a thread-safe broadcast for coroutines on any reactor. A waiter
// takes a ticket (the current generation) while it checks its condition
// under its own lock, then awaits the ticket: it resumes on its own reactor
// at the next notify_all() after the ticket — or at once if one already
// happened — so no wakeup is lost between the check and the wait.
#pragma once

#include <coroutine>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "io/reactor.h"

namespace berth::io {

struct TimedWaitState;

class Event {
  friend struct TimedWaitState;

 public:
  uint64_t ticket() const {
    std::lock_guard lock(mu_);
    return gen_;
  }

  void notify_all();

  struct Awaiter {
    Event* ev;
    uint64_t ticket;
    bool await_ready() const {
      std::lock_guard lock(ev->mu_);
      return ev->gen_ != ticket;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      std::lock_guard lock(ev->mu_);
      if (ev->gen_ != ticket) return false;
      ev->waiters_.emplace_back(h, Reactor::current());
      return true;
    }
    void await_resume() const noexcept {}
  };
  // Resumes after the first notify_all() that follows `ticket`.
  Awaiter wait(uint64_t ticket) { return Awaiter{this, ticket}; }

  // As wait(), but gives up after d: co_await yields true if notified,
  // false on timeout. Must be awaited on a reactor thread.
  struct TimedAwaiter;
  TimedAwaiter wait_for(uint64_t ticket, Duration d);

 private:
  mutable std::mutex mu_;
  uint64_t gen_ = 0;
  std::vector<std::pair<std::coroutine_handle<>, Reactor*>> waiters_;
  std::vector<struct TimedWaitState*> timed_;
};

// Shared by the notify path and the timer; freed when both are done.
struct TimedWaitState : Op {
  Event* event = nullptr;
  std::coroutine_handle<> h;
  Reactor* reactor = nullptr;
  __kernel_timespec ts{};
  bool finished = false;  // reactor thread only
  bool notified = false;
  int refs = 2;           // reactor thread only

  void release() {
    if (--refs == 0) delete this;
  }
  void finish(bool by_notify) {
    if (finished) return;
    finished = true;
    notified = by_notify;
    if (by_notify) reactor->cancel(this);
    h.resume();
  }
  static void on_timer(Op* op, int, uint32_t);
};

struct Event::TimedAwaiter {
  Event* ev;
  uint64_t ticket;
  Duration d;
  TimedWaitState* st = nullptr;

  bool await_ready() const {
    std::lock_guard lock(ev->mu_);
    return ev->gen_ != ticket;
  }
  bool await_suspend(std::coroutine_handle<> h) {
    Reactor* r = Reactor::current();
    st = new TimedWaitState();
    st->event = ev;
    st->h = h;
    st->reactor = r;
    st->complete = &TimedWaitState::on_timer;
    {
      std::lock_guard lock(ev->mu_);
      if (ev->gen_ != ticket) {
        delete st;
        st = nullptr;
        return false;
      }
      // The notify path: a coroutine handle that, resumed, finishes the
      // state on this reactor. Registered as a plain waiter.
      ev->timed_.push_back(st);
    }
    auto ns = d.count() < 0 ? 0 : d.count();
    st->ts.tv_sec = ns / 1000000000;
    st->ts.tv_nsec = ns % 1000000000;
    io_uring_sqe* s = r->get_sqe();
    io_uring_prep_timeout(s, &st->ts, 0, 0);
    io_uring_sqe_set_data(s, static_cast<Op*>(st));
    return true;
  }
  bool await_resume() {
    if (!st) return true;
    bool n = st->notified;
    // The coroutine no longer needs the state; the other path may still.
    return n;
  }
};

inline void TimedWaitState::on_timer(Op* op, int, uint32_t) {
  auto* s = static_cast<TimedWaitState*>(op);
  if (!s->finished) {
    // Timed out: take ourselves off the event, unless a notify already did
    // (then its posted finish will drop that reference).
    bool removed = false;
    {
      std::lock_guard lock(s->event->mu_);
      auto& v = s->event->timed_;
      for (auto it = v.begin(); it != v.end(); ++it)
        if (*it == s) {
          v.erase(it);
          removed = true;
          break;
        }
    }
    s->finish(false);
    // The timer's reference, and the notify path's when we took it off.
    s->refs -= removed ? 2 : 1;
  } else {
    s->refs -= 1;
  }
  if (s->refs == 0) delete s;
}

inline void Event::notify_all() {
  std::vector<std::pair<std::coroutine_handle<>, Reactor*>> wake;
  std::vector<TimedWaitState*> timed;
  {
    std::lock_guard lock(mu_);
    ++gen_;
    wake.swap(waiters_);
    timed.swap(timed_);
  }
  for (auto& [h, r] : wake) r->post([h] { h.resume(); });
  for (TimedWaitState* t : timed)
    t->reactor->post([t] {
      t->finish(true);
      t->release();
    });
}

inline Event::TimedAwaiter Event::wait_for(uint64_t ticket, Duration d) {
  return TimedAwaiter{this, ticket, d};
}

}  // namespace berth::io
