#include "api/server/stream.h"

#include "api/server/errors.h"

namespace berth::api {

io::Task<void> send_job_stream(io::http::Response& res, std::shared_ptr<io::OutboundChannel> ch,
                               std::shared_ptr<io::BlockingJob<Result<void>>> job,
                               std::string content_type) {
  auto first = co_await ch->next();
  if (!first) {
    co_await job->wait();
    send_error(res, first.error());
    co_return;
  }
  auto begun = co_await res.begin_stream(200, content_type);
  std::string chunk = std::move(*first);
  while (begun && !chunk.empty()) {
    auto w = co_await res.write(chunk);
    if (!w) {
      ch->close_read(w.error());
      break;
    }
    auto next = co_await ch->next();
    if (!next) {
      res.abort_stream();
      break;
    }
    chunk = std::move(*next);
  }
  if (!begun) ch->close_read(begun.error());
  co_await job->wait();
}

}  // namespace berth::api
