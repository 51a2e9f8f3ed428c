#include "io/channel.h"

#include <cstring>

namespace berth::io {

// --- inbound ------------------------------------------------------------------

struct InboundChannel::PushAwaiter {
  InboundChannel* ch;
  bool await_ready() {
    std::lock_guard lock(ch->mu_);
    return ch->bytes_ < ch->max_ || ch->read_error_.has_value();
  }
  bool await_suspend(std::coroutine_handle<> h) {
    std::lock_guard lock(ch->mu_);
    if (ch->bytes_ < ch->max_ || ch->read_error_) return false;
    ch->waiter_ = h;
    ch->waiter_reactor_ = Reactor::current();
    return true;
  }
  void await_resume() const noexcept {}
};

Task<Result<void>> InboundChannel::push(std::string chunk) {
  co_await PushAwaiter{this};  // coawait-trivial
  {
    std::lock_guard lock(mu_);
    if (read_error_) co_return std::unexpected(*read_error_);
    bytes_ += chunk.size();
    q_.push_back(std::move(chunk));
  }
  cv_.notify_one();
  co_return Result<void>{};
}

void InboundChannel::close_write(std::optional<Error> err) {
  {
    std::lock_guard lock(mu_);
    write_closed_ = true;
    write_error_ = std::move(err);
  }
  cv_.notify_all();
}

Result<size_t> InboundChannel::read(char* buf, size_t len) {
  std::coroutine_handle<> wake;
  Reactor* wake_on = nullptr;
  size_t n = 0;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !q_.empty() || write_closed_; });
    if (q_.empty()) {
      if (write_error_) return std::unexpected(*write_error_);
      return size_t{0};
    }
    while (n < len && !q_.empty()) {
      std::string& f = q_.front();
      size_t take = std::min(len - n, f.size() - front_off_);
      std::memcpy(buf + n, f.data() + front_off_, take);
      n += take;
      front_off_ += take;
      bytes_ -= take;
      if (front_off_ == f.size()) {
        q_.pop_front();
        front_off_ = 0;
      }
    }
    if (waiter_ && bytes_ < max_) {
      wake = std::exchange(waiter_, {});
      wake_on = waiter_reactor_;
    }
  }
  if (wake) wake_on->post([wake] { wake.resume(); });
  return n;
}

void InboundChannel::close_read(Error why) {
  std::coroutine_handle<> wake;
  Reactor* wake_on = nullptr;
  {
    std::lock_guard lock(mu_);
    read_error_ = std::move(why);
    q_.clear();
    bytes_ = 0;
    wake = std::exchange(waiter_, {});
    wake_on = waiter_reactor_;
  }
  if (wake) wake_on->post([wake] { wake.resume(); });
}

// --- outbound ------------------------------------------------------------------

struct OutboundChannel::NextAwaiter {
  OutboundChannel* ch;
  bool await_ready() {
    std::lock_guard lock(ch->mu_);
    return !ch->q_.empty() || ch->write_closed_;
  }
  bool await_suspend(std::coroutine_handle<> h) {
    std::lock_guard lock(ch->mu_);
    if (!ch->q_.empty() || ch->write_closed_) return false;
    ch->waiter_ = h;
    ch->waiter_reactor_ = Reactor::current();
    return true;
  }
  void await_resume() const noexcept {}
};

Result<void> OutboundChannel::write(std::string_view data) {
  std::coroutine_handle<> wake;
  Reactor* wake_on = nullptr;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return bytes_ < max_ || read_error_.has_value(); });
    if (read_error_) return std::unexpected(*read_error_);
    bytes_ += data.size();
    q_.emplace_back(data);
    wake = std::exchange(waiter_, {});
    wake_on = waiter_reactor_;
  }
  if (wake) wake_on->post([wake] { wake.resume(); });
  return {};
}

void OutboundChannel::close_write(std::optional<Error> err) {
  std::coroutine_handle<> wake;
  Reactor* wake_on = nullptr;
  {
    std::lock_guard lock(mu_);
    write_closed_ = true;
    write_error_ = std::move(err);
    wake = std::exchange(waiter_, {});
    wake_on = waiter_reactor_;
  }
  if (wake) wake_on->post([wake] { wake.resume(); });
}

Task<Result<std::string>> OutboundChannel::next() {
  co_await NextAwaiter{this};  // coawait-trivial
  std::string out;
  {
    std::lock_guard lock(mu_);
    if (q_.empty()) {
      if (write_error_) co_return std::unexpected(*write_error_);
      co_return std::string();
    }
    out = std::move(q_.front());
    q_.pop_front();
    bytes_ -= out.size();
  }
  cv_.notify_one();
  co_return out;
}

void OutboundChannel::close_read(Error why) {
  {
    std::lock_guard lock(mu_);
    read_error_ = std::move(why);
    q_.clear();
    bytes_ = 0;
  }
  cv_.notify_all();
}

}  // namespace berth::io
