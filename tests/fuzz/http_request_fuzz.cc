// Fuzz target: arbitrary bytes as an HTTP/1.1 request stream through the
// server's MessageReader (heads, chunked and sized bodies, pipelining), then
// target decoding and routing against the full API route table.
// The first byte picks how the input is split into reads.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "api/server/api.h"
#include "io/http/reader.h"
#include "io/http/server.h"

namespace {

using namespace berth;

class MemoryTransport : public io::http::Transport {
 public:
  MemoryTransport(const uint8_t* data, size_t size, size_t step)
      : io::http::Transport(unique_fd()), data_(data), size_(size), step_(step) {}
  io::Task<int> read(char* buf, size_t len, std::optional<io::Duration>) override {
    size_t n = std::min({len, size_ - pos_, step_});
    std::memcpy(buf, data_ + pos_, n);
    pos_ += n;
    co_return static_cast<int>(n);
  }
  io::Task<int> write_all(std::string_view, std::optional<io::Duration>) override { co_return 0; }
  io::Task<int> write_all_v(std::span<const iovec>, std::optional<io::Duration>) override {
    co_return 0;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t step_;
  size_t pos_ = 0;
};

api::Router& router() {
  static api::ApiContext ctx;
  static api::Router r = api::build_router(ctx);
  return r;
}

io::Task<void> drive(MemoryTransport* t, bool* done) {
  io::http::MessageReader reader(
      io::http::MessageReader::Kind::request, t,
      io::http::MessageReader::Limits{.max_head = 8192, .initial_buffer = 64, .body_window = 256});
  for (int i = 0; i < 64; ++i) {
    auto head = co_await reader.read_head(std::nullopt, std::nullopt);
    if (!head) break;
    std::string_view target = reader.url();
    std::string_view path = target.substr(0, target.find('?'));
    if (target.find('?') != std::string_view::npos)
      (void)io::http::parse_query(target.substr(target.find('?') + 1));
    if (auto decoded = io::http::percent_decode(path, false);
        decoded && !decoded->empty() && (*decoded)[0] == '/')
      (void)router().match(reader.method(), *decoded);
    (void)reader.header("Content-Type");
    (void)reader.expects_continue();
    size_t total = 0;
    bool ok = true;
    for (;;) {
      auto chunk = co_await reader.read_body(std::nullopt);
      if (!chunk) {
        ok = false;
        break;
      }
      if (chunk->empty()) break;
      total += chunk->size();
    }
    if (!ok || !reader.keep_alive()) break;
  }
  *done = true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t step = 1 + (data[0] % 64) * 17;
  MemoryTransport t(data + 1, size - 1, step);
  bool done = false;
  io::spawn(drive(&t, &done));
  if (!done) __builtin_trap();  // nothing here may suspend
  return 0;
}
