// Responses streamed from a blocking job: the job (on the pool) writes into
// an OutboundChannel, the handler (on the reactor) sends what arrives as a
// chunked 200 response. Used by docker save, export and logs.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "io/channel.h"
#include "io/http/server.h"
#include "io/pool.h"

namespace berth::api {

// Gathers a blocking writer's small pieces into channel writes of 256 KiB.
// Not thread-safe: one writer.
class ChunkedOutput {
 public:
  explicit ChunkedOutput(std::shared_ptr<io::OutboundChannel> ch) : ch_(std::move(ch)) {}
  Result<void> write(std::string_view d) {
    buf_.append(d);
    if (buf_.size() >= (256 << 10)) return flush();
    return {};
  }
  Result<void> flush() {
    if (buf_.empty()) return {};
    auto r = ch_->write(buf_);
    buf_.clear();
    return r;
  }

 private:
  std::shared_ptr<io::OutboundChannel> ch_;
  std::string buf_;
};

// Sends what job writes into ch as a 200 stream of content_type. When the
// channel fails before its first byte, its error is the answer (a 4xx/5xx
// in docker's shape); a failure later cuts the stream. A client that goes
// away closes the channel's read side, so the job stops. Waits for the job.
io::Task<void> send_job_stream(io::http::Response& res, std::shared_ptr<io::OutboundChannel> ch,
                               std::shared_ptr<io::BlockingJob<Result<void>>> job,
                               std::string content_type);

}  // namespace berth::api
