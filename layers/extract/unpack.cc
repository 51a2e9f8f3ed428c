#include "layers/extract/unpack.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "layers/archive/tar_reader.h"

namespace berth::layers::extract {

namespace {

struct Buffer {
  std::unique_ptr<char[]> data;
  size_t len = 0;
  std::atomic<int> refs{0};
};

// A blocking FIFO of buffers between two threads; close() wakes everyone.
class BufferQueue {
 public:
  void push(Buffer* b) {
    {
      std::lock_guard lock(mu_);
      q_.push_back(b);
    }
    cv_.notify_one();
  }
  // nullptr when closed and empty.
  Buffer* pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !q_.empty(); });
    if (q_.empty()) return nullptr;
    Buffer* b = q_.front();
    q_.pop_front();
    return b;
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Buffer*> q_;
  bool closed_ = false;
};

class Pipeline {
 public:
  explicit Pipeline(const UnpackOptions& o) : opts_(o) {
    buffers_ = std::make_unique<Buffer[]>(std::max(2u, o.buffers));
    for (unsigned i = 0; i < std::max(2u, o.buffers); ++i) {
      buffers_[i].data.reset(new char[o.buffer_size]);
      free_.push(&buffers_[i]);
    }
  }

  void fail(Error e) {
    {
      std::lock_guard lock(err_mu_);
      if (!error_) error_ = std::move(e);
    }
    aborted_.store(true);
    free_.close();
    to_hash_.close();
    to_write_.close();
  }
  bool aborted() const { return aborted_.load(std::memory_order_relaxed); }

  void release(Buffer* b) {
    if (b->refs.fetch_sub(1) == 1) free_.push(b);
  }

  // Stage 1 (the calling thread): read, hash, decompress.
  void produce(const Source& src) {
    std::unique_ptr<char[]> in(new char[opts_.buffer_size]);
    archive::Sha256 hash;
    std::unique_ptr<archive::Decompressor> dec;
    bool plain = false;
    Buffer* out = nullptr;
    size_t out_len = 0;
    auto emit = [&]() {
      out->len = out_len;
      out->refs.store(2);
      to_hash_.push(out);
      to_write_.push(out);
      out = nullptr;
      out_len = 0;
    };
    auto next_out = [&]() -> bool {
      out = free_.pop();
      out_len = 0;
      return out != nullptr;
    };
    auto run = [&]() -> Result<void> {
      bool first = true;
      for (;;) {
        if (aborted()) return {};
        if (plain) {
          // Uncompressed: read straight into pipeline buffers, no copy.
          if (!next_out()) return {};
          size_t n = BERTH_TRY(src(out->data.get(), opts_.buffer_size));
          result_.compressed_size += n;
          if (n == 0) {
            free_.push(out);
            out = nullptr;
            return {};
          }
          out_len = n;
          emit();
          continue;
        }
        size_t n = BERTH_TRY(src(in.get(), opts_.buffer_size));
        if (first) {
          first = false;
          auto c = archive::detect_compression(std::string_view(in.get(), n));
          result_.compression = c;
          if (c == archive::Compression::none) {
            // Hand this first chunk on as it is, then read directly.
            plain = true;
            result_.compressed_size += n;
            if (n == 0) return {};
            if (!next_out()) return {};
            std::memcpy(out->data.get(), in.get(), n);
            out_len = n;
            emit();
            continue;
          }
          dec = BERTH_TRY(archive::make_decompressor(c, opts_.decompress));
        }
        result_.compressed_size += n;
        if (n == 0) {
          BERTH_TRY(with_context(dec->finish(), "decompress"));
          if (out && out_len > 0)
            emit();
          else if (out)
            free_.push(out);
          out = nullptr;
          return {};
        }
        hash.update(std::string_view(in.get(), n));
        std::string_view pending(in.get(), n);
        for (;;) {
          if (!out && !next_out()) return {};
          std::span<char> space(out->data.get() + out_len, opts_.buffer_size - out_len);
          auto step = BERTH_TRY(with_context(dec->decompress(pending, space), "decompress"));
          pending.remove_prefix(step.consumed);
          out_len += step.produced;
          if (out_len == opts_.buffer_size) emit();
          // More output may be pending inside the codec even when all input
          // is consumed: loop while it keeps filling.
          if (pending.empty() && step.produced < space.size()) break;
          if (step.consumed == 0 && step.produced == 0) break;
        }
      }
    };
    auto r = run();
    if (out) free_.push(out);
    if (!r) {
      fail(r.error());
      return;
    }
    if (!plain) result_.compressed_digest = hash.finish();
    to_hash_.close();
    to_write_.close();
  }

  // Stage 2a: the diff ID.
  void hash_stage() {
    archive::Sha256 h;
    while (Buffer* b = to_hash_.pop()) {
      h.update(std::string_view(b->data.get(), b->len));
      result_.size += b->len;
      release(b);
    }
    diff_id_ = h.finish();
  }

  // Stage 2b: parse and write.
  void write_stage(const std::string& dest) {
    pthread_setname_np(pthread_self(), "unpack-write");
    auto w = FsWriter::create(dest, opts_.writer);
    if (!w) {
      fail(w.error());
      drain(to_write_);
      return;
    }
    archive::TarReader reader(**w);
    auto run = [&]() -> Result<void> {
      while (Buffer* b = to_write_.pop()) {
        (*w)->set_input_window(b->data.get(), b->data.get() + b->len);
        auto r = reader.feed(std::string_view(b->data.get(), b->len));
        if (r) r = (*w)->flush();
        (*w)->set_input_window(nullptr, nullptr);
        release(b);
        if (!r) return r;
      }
      if (aborted()) return {};
      BERTH_TRY(reader.finish());
      return (*w)->finish();
    };
    auto r = run();
    if (!r) {
      fail(r.error());
      drain(to_write_);
    }
    result_.writer = (*w)->stats();
  }

  void drain(BufferQueue& q) {
    while (Buffer* b = q.pop()) release(b);
  }

  Result<UnpackResult> finish() {
    if (error_) return std::unexpected(*error_);
    result_.diff_id = diff_id_;
    if (result_.compression == archive::Compression::none) result_.compressed_digest = diff_id_;
    return result_;
  }

 private:
  UnpackOptions opts_;
  std::unique_ptr<Buffer[]> buffers_;
  BufferQueue free_, to_hash_, to_write_;
  std::atomic<bool> aborted_{false};
  std::mutex err_mu_;
  std::optional<Error> error_;
  UnpackResult result_;
  archive::Digest diff_id_;
};

}  // namespace

Result<UnpackResult> unpack(const Source& src, const std::string& dest, const UnpackOptions& opts) {
  Pipeline p(opts);
  std::thread hasher([&] {
    pthread_setname_np(pthread_self(), "unpack-hash");
    p.hash_stage();
  });
  std::thread writer([&] { p.write_stage(dest); });
  p.produce(src);
  hasher.join();
  writer.join();
  return p.finish();
}

Result<UnpackResult> unpack_file(const std::string& path, const std::string& dest,
                                 const UnpackOptions& opts) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys_fail(errno, "open " + path);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  int raw = fd.get();
  Source src = [raw, &path](char* buf, size_t len) -> Result<size_t> {
    for (;;) {
      ssize_t n = ::read(raw, buf, len);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return sys_fail(errno, "read " + path);
    }
  };
  return unpack(src, dest, opts);
}

std::vector<Result<UnpackResult>> unpack_all(const std::vector<UnpackJob>& jobs,
                                             const UnpackOptions& opts, unsigned parallel) {
  std::vector<Result<UnpackResult>> results(jobs.size(), fail(Errc::internal, "not run"));
  if (parallel == 0) parallel = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  for (unsigned i = 0; i < std::min<size_t>(parallel, jobs.size()); ++i) {
    workers.emplace_back([&] {
      for (;;) {
        size_t k = next.fetch_add(1);
        if (k >= jobs.size()) return;
        results[k] = unpack_file(jobs[k].source_path, jobs[k].dest, opts);
      }
    });
  }
  for (auto& t : workers) t.join();
  return results;
}

}  // namespace berth::layers::extract
