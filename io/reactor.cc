#include "io/reactor.h"

#include <pthread.h>
#include <sys/eventfd.h>

#include <condition_variable>
#include <cstring>

#include "core/base/log.h"

namespace berth::io {

static thread_local Reactor* t_current = nullptr;

Reactor* Reactor::current() {
  return t_current;
}

Result<std::unique_ptr<Reactor>> Reactor::create(const Options& opts) {
  std::unique_ptr<Reactor> r(new Reactor());
  r->index_ = opts.index;
  io_uring_params p{};
  // One submitter thread, task work run only when we wait: fewer interrupts
  // and context switches. Older kernels reject the flags; fall back.
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(opts.entries, &r->ring_, &p);
  if (rc == -EINVAL) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_COOP_TASKRUN;
    rc = io_uring_queue_init_params(opts.entries, &r->ring_, &p);
    if (rc == -EINVAL) {
      p = io_uring_params{};
      rc = io_uring_queue_init_params(opts.entries, &r->ring_, &p);
    }
  }
  if (rc < 0) {
    if (rc == -EPERM || rc == -ENOSYS)
      return fail(Errc::unavailable,
                  str_cat("io_uring is not available here (", std::strerror(-rc),
                          "): check kernel.io_uring_disabled and any seccomp filter"));
    return sys_fail(-rc, "io_uring_queue_init");
  }
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    int e = errno;
    io_uring_queue_exit(&r->ring_);
    return sys_fail(e, "eventfd");
  }
  r->event_fd_.reset(efd);
  r->wake_op_.self = r.get();
  r->wake_op_.complete = &Reactor::on_wakeup;
  t_current = r.get();
  r->arm_wakeup();
  return r;
}

Reactor::~Reactor() {
  io_uring_queue_exit(&ring_);
  if (t_current == this) t_current = nullptr;
}

io_uring_sqe* Reactor::get_sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (!s) {
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

void Reactor::reserve(unsigned n) {
  if (io_uring_sq_space_left(&ring_) < n) io_uring_submit(&ring_);
}

void Reactor::cancel(Op* op) {
  io_uring_sqe* s = get_sqe();
  io_uring_prep_cancel64(s, reinterpret_cast<uint64_t>(op), 0);
  io_uring_sqe_set_data(s, nullptr);
}

void Reactor::arm_wakeup() {
  io_uring_sqe* s = get_sqe();
  io_uring_prep_read(s, event_fd_.get(), &wake_op_.value, sizeof wake_op_.value, 0);
  io_uring_sqe_set_data(s, static_cast<Op*>(&wake_op_));
}

void Reactor::on_wakeup(Op* op, int, uint32_t) {
  Reactor* self = static_cast<WakeOp*>(op)->self;
  self->arm_wakeup();
  self->drain_posted();
}

void Reactor::drain_posted() {
  wake_pending_.store(false, std::memory_order_release);
  {
    std::lock_guard lock(post_mu_);
    running_.swap(posted_);
  }
  for (auto& fn : running_) fn();
  running_.clear();
}

void Reactor::post(std::function<void()> fn) {
  {
    std::lock_guard lock(post_mu_);
    posted_.push_back(std::move(fn));
  }
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(event_fd_.get(), &one, sizeof one);
  }
}

void Reactor::stop() {
  stop_.store(true, std::memory_order_relaxed);
  if (t_current != this) post([] {});
}

void Reactor::run() {
  t_current = this;
  while (!stop_.load(std::memory_order_relaxed)) {
    int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN && rc != -ETIME) {
      log::error("reactor ", index_, ": io_uring_submit_and_wait: ", std::strerror(-rc));
      break;
    }
    unsigned head;
    unsigned count = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++count;
      Op* op = reinterpret_cast<Op*>(io_uring_cqe_get_data64(cqe));
      if (op) op->complete(op, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&ring_, count);
  }
  // Submit what the last callbacks queued (e.g. closes) before leaving.
  io_uring_submit(&ring_);
}

ReactorGroup::~ReactorGroup() {
  stop_all();
  join();
}

Result<void> ReactorGroup::start(int n, std::function<void(Reactor&)> init) {
  std::mutex mu;
  std::condition_variable cv;
  int ready = 0;
  std::optional<Error> first_error;
  reactors_.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([&, i, init] {
      char name[16];
      std::snprintf(name, sizeof name, "reactor-%d", i);
      pthread_setname_np(pthread_self(), name);
      auto r = Reactor::create({.entries = 256, .index = i});
      Reactor* self = nullptr;
      {
        // Notify under the lock: start() owns mu and cv and may return as
        // soon as it sees ready == n.
        std::lock_guard lock(mu);
        if (r) {
          self = r->get();
          reactors_[static_cast<size_t>(i)] = std::move(*r);
        } else if (!first_error) {
          first_error = r.error();
        }
        ++ready;
        cv.notify_all();
      }
      if (!self) return;
      init(*self);
      self->run();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return ready == n; });
  if (first_error) {
    lock.unlock();
    stop_all();
    join();
    return std::unexpected(*first_error);
  }
  return {};
}

void ReactorGroup::stop_all() {
  for (auto& r : reactors_)
    if (r) r->stop();
}

void ReactorGroup::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  reactors_.clear();
}

}  // namespace berth::io
