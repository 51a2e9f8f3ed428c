// Task<T>: a lazily started C++20 coroutine that produces a T, awaited by one
// other coroutine (symmetric transfer, so deep await chains do not grow the
// stack). spawn() starts a Task<void> detached; its frame frees itself when
// it finishes.
//
// Rules that keep coroutines safe here (GCC 12):
//  - Coroutine parameters are copied into the frame: pass owning values or
//    pointers to objects that outlive the coroutine; never a reference to a
//    temporary, never a string_view of a temporary.
//  - Coroutine lambdas must not capture: pass what they need as parameters.
//  - A Task runs on the reactor thread that resumed it; it is not thread-safe.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

namespace berth::io {

namespace detail {

struct PromiseBase {
  std::coroutine_handle<> continuation;

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
      std::coroutine_handle<> c = h.promise().continuation;
      if (c) return c;
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::PromiseBase {
    std::optional<T> value;
    Task get_return_object() {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    template <class U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
  };
  using handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(handle h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~Task() {
    if (h_) h_.destroy();
  }

  auto operator co_await() && noexcept {
    struct Awaiter {
      handle h;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> c) noexcept {
        h.promise().continuation = c;
        return h;
      }
      T await_resume() { return std::move(*h.promise().value); }
    };
    return Awaiter{h_};
  }

  handle release() { return std::exchange(h_, {}); }

 private:
  handle h_;
};

template <>
class [[nodiscard]] Task<void> {
 public:
  struct promise_type : detail::PromiseBase {
    Task get_return_object() {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    void return_void() const noexcept {}
  };
  using handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(handle h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~Task() {
    if (h_) h_.destroy();
  }

  auto operator co_await() && noexcept {
    struct Awaiter {
      handle h;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> c) noexcept {
        h.promise().continuation = c;
        return h;
      }
      void await_resume() const noexcept {}
    };
    return Awaiter{h_};
  }

  handle release() { return std::exchange(h_, {}); }

 private:
  handle h_;
};

namespace detail {
struct Detached {
  struct promise_type {
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }
  };
};
inline Detached run_detached(Task<void> t) {
  co_await std::move(t);
}
}  // namespace detail

// Starts t now, on this thread; it runs until its first suspension before
// spawn returns, and frees itself when it completes.
inline void spawn(Task<void> t) {
  detail::run_detached(std::move(t));
}

}  // namespace berth::io
