#include "io/http/reader.h"

#include <chrono>
#include <cstring>

#include "core/base/strings.h"

namespace berth::io::http {

namespace {
MessageReader* self_of(llhttp_t* p) {
  return static_cast<MessageReader*>(p->data);
}

std::optional<Duration> remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = deadline - std::chrono::steady_clock::now();
  if (left < Duration::zero()) return Duration::zero();
  return std::chrono::duration_cast<Duration>(left);
}
}  // namespace

MessageReader::MessageReader(Kind kind, Transport* transport, Limits limits)
    : kind_(kind), transport_(transport), limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &on_message_begin;
  settings_.on_url = &on_url;
  settings_.on_method = &on_method;
  settings_.on_header_field = &on_header_field;
  settings_.on_header_value = &on_header_value;
  settings_.on_headers_complete = &on_headers_complete;
  settings_.on_body = &on_body;
  settings_.on_message_complete = &on_message_complete;
  llhttp_init(&parser_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
  cap_ = limits_.initial_buffer;
  buf_.reset(new char[cap_]);
}

MessageReader::~MessageReader() = default;

std::string_view MessageReader::method() const {
  return llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
}

int MessageReader::status() const {
  return parser_.status_code;
}

bool MessageReader::chunked() const {
  return (parser_.flags & F_CHUNKED) != 0;
}

bool MessageReader::expects_continue() const {
  auto e = header("Expect");
  return e && iequals(trim(*e), "100-continue");
}

std::string_view MessageReader::buffered() const {
  return {buf_.get() + rpos_, wpos_ - rpos_};
}

void MessageReader::append_span(Span& s, const char* at, size_t len) {
  // Head bytes stay where they were received until the message is done, so
  // the pieces of one field are adjacent: extend, never copy.
  if (s.len == 0) s.off = static_cast<size_t>(at - buf_.get());
  s.len += len;
}

int MessageReader::on_message_begin(llhttp_t* p) {
  auto* r = self_of(p);
  r->method_ = {};
  r->url_ = {};
  r->header_spans_.clear();
  r->in_value_ = false;
  return 0;
}

int MessageReader::on_url(llhttp_t* p, const char* at, size_t len) {
  self_of(p)->append_span(self_of(p)->url_, at, len);
  return 0;
}

int MessageReader::on_method(llhttp_t* p, const char* at, size_t len) {
  self_of(p)->append_span(self_of(p)->method_, at, len);
  return 0;
}

int MessageReader::on_header_field(llhttp_t* p, const char* at, size_t len) {
  auto* r = self_of(p);
  if (r->in_value_ || r->header_spans_.empty()) {
    r->header_spans_.emplace_back();
    r->in_value_ = false;
  }
  r->append_span(r->header_spans_.back().name, at, len);
  return 0;
}

int MessageReader::on_header_value(llhttp_t* p, const char* at, size_t len) {
  auto* r = self_of(p);
  r->in_value_ = true;
  if (r->header_spans_.empty()) r->header_spans_.emplace_back();
  auto& v = r->header_spans_.back().value;
  if (v.len == 0) v.off = static_cast<size_t>(at - r->buf_.get());
  v.len = static_cast<size_t>(at - r->buf_.get()) + len - v.off;
  return 0;
}

int MessageReader::on_headers_complete(llhttp_t* p) {
  auto* r = self_of(p);
  r->head_done_ = true;
  r->keep_alive_ = llhttp_should_keep_alive(p) != 0;
  r->upgrade_ = p->upgrade != 0;
  r->content_length_ = (p->flags & F_CONTENT_LENGTH) ? static_cast<int64_t>(p->content_length) : -1;
  return r->no_body_ ? 1 : 0;
}

int MessageReader::on_body(llhttp_t* p, const char* at, size_t len) {
  auto* r = self_of(p);
  r->body_started_ = true;
  r->chunks_.push_back({static_cast<size_t>(at - r->buf_.get()), len});
  return 0;
}

int MessageReader::on_message_complete(llhttp_t* p) {
  auto* r = self_of(p);
  r->message_done_ = true;
  // A message without keep-alive or an upgraded one ends the stream of
  // messages; pausing keeps llhttp from parsing what follows.
  return HPE_PAUSED;
}

void MessageReader::start_message() {
  if (rpos_ == wpos_) {
    rpos_ = wpos_ = 0;
  } else if (rpos_ > 0) {
    std::memmove(buf_.get(), buf_.get() + rpos_, wpos_ - rpos_);
    wpos_ -= rpos_;
    rpos_ = 0;
  }
  msg_start_ = rpos_;
  head_end_ = 0;
  head_done_ = message_done_ = body_started_ = false;
  keep_alive_ = upgrade_ = false;
  content_length_ = -1;
  chunks_.clear();
  chunk_next_ = 0;
  headers_.clear();
}

void MessageReader::ensure_space(size_t min_free) {
  if (cap_ - wpos_ >= min_free) return;
  size_t need = wpos_ + min_free;
  size_t ncap = std::max(cap_ * 2, need);
  std::unique_ptr<char[]> nb(new char[ncap]);
  std::memcpy(nb.get(), buf_.get(), wpos_);
  buf_ = std::move(nb);
  cap_ = ncap;
}

Result<void> MessageReader::parse() {
  while (rpos_ < wpos_ && !message_done_) {
    const char* start = buf_.get() + rpos_;
    llhttp_errno_t err = llhttp_execute(&parser_, start, wpos_ - rpos_);
    if (err == HPE_OK) {
      rpos_ = wpos_;
    } else if (err == HPE_PAUSED) {  // only on_message_complete pauses
      rpos_ = static_cast<size_t>(llhttp_get_error_pos(&parser_) - buf_.get());
      llhttp_resume(&parser_);
    } else if (err == HPE_PAUSED_UPGRADE) {
      rpos_ = static_cast<size_t>(llhttp_get_error_pos(&parser_) - buf_.get());
      message_done_ = true;
    } else {
      return fail(Errc::invalid_argument, llhttp_get_error_reason(&parser_));
    }
  }
  return {};
}

Task<Result<void>> MessageReader::read_head(std::optional<Duration> idle,
                                            std::optional<Duration> head) {
  if (!message_done_ && head_done_) {
    // The caller abandoned the previous body: the stream is out of sync.
    co_return fail(Errc::internal, "previous message body was not consumed");
  }
  start_message();
  std::optional<std::chrono::steady_clock::time_point> deadline;
  for (;;) {
    // Empty lines between messages are allowed (RFC 9112 2.2): they do not
    // start a message, so they do not start its deadline either.
    while (rpos_ < wpos_ && rpos_ == msg_start_ && (buf_[rpos_] == '\r' || buf_[rpos_] == '\n'))
      msg_start_ = ++rpos_;
    if (rpos_ < wpos_) {
      if (!deadline && head) deadline = std::chrono::steady_clock::now() + *head;
      auto r = parse();
      if (!r) co_return std::unexpected(r.error());
      if (head_done_) break;
    }
    if (wpos_ - msg_start_ >= limits_.max_head)
      co_return fail(Errc::too_large, str_cat("request head exceeds ", limits_.max_head, " bytes"));
    ensure_space(std::min<size_t>(4096, limits_.max_head - (wpos_ - msg_start_)));
    std::optional<Duration> t =
        wpos_ == msg_start_ ? idle : (deadline ? remaining(*deadline) : head);
    int n = co_await transport_->read(buf_.get() + wpos_, cap_ - wpos_, t);
    if (n == 0) {
      if (wpos_ == msg_start_) co_return fail(Errc::cancelled, "connection closed");
      if (kind_ == Kind::response) {
        // A response may legitimately end at EOF; llhttp decides.
        llhttp_errno_t e = llhttp_finish(&parser_);
        if (e == HPE_OK && head_done_) break;
      }
      co_return fail(Errc::invalid_argument,
                     "connection closed before the end of the message head");
    }
    if (n == -ECANCELED || n == -ETIME)
      co_return fail(Errc::timeout,
                     wpos_ == msg_start_ ? "idle timeout" : "timed out reading the message head");
    if (n < 0) co_return sys_fail(-n, "read");
    wpos_ += static_cast<size_t>(n);
  }
  // The head's bytes (and whatever arrived with them) stay put for the
  // views; body reads reuse only the space after them.
  head_end_ = wpos_;
  if (kind_ == Kind::request) {
    auto strict = check_request_head();
    if (!strict) co_return std::unexpected(strict.error());
  }
  headers_.reserve(header_spans_.size());
  for (const auto& h : header_spans_) headers_.push_back({view(h.name), view(h.value)});
  co_return Result<void>{};
}

Result<void> MessageReader::check_request_head() const {
  // llhttp 8 tolerates what RFC 9112 says a server must reject; two parsers
  // that disagree on framing are how requests get smuggled.
  std::string_view head(buf_.get() + msg_start_, wpos_ - msg_start_);
  size_t end = head.find("\r\n\r\n");
  if (end == std::string_view::npos)
    return fail(Errc::invalid_argument, "line ending without carriage return");
  for (size_t i = head.find('\n'); i < end; i = head.find('\n', i + 1))
    if (i == 0 || head[i - 1] != '\r')
      return fail(Errc::invalid_argument, "line ending without carriage return");
  for (const auto& h : header_spans_) {
    std::string_view name = view(h.name), value = view(h.value);
    if (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
      return fail(Errc::invalid_argument, "whitespace between header field name and colon");
    if (value.find_first_of("\r\n") != std::string_view::npos)
      return fail(Errc::invalid_argument, "obsolete line folding in header " + std::string(name));
  }
  return {};
}

Task<Result<std::string_view>> MessageReader::read_body(std::optional<Duration> timeout) {
  for (;;) {
    if (chunk_next_ < chunks_.size()) {
      Span s = chunks_[chunk_next_++];
      co_return view(s);
    }
    chunks_.clear();
    chunk_next_ = 0;
    if (message_done_) co_return std::string_view{};
    if (rpos_ < wpos_) {
      auto r = parse();
      if (!r) co_return std::unexpected(r.error());
      continue;
    }
    // Everything received so far is consumed: reuse the space after the head.
    rpos_ = wpos_ = head_end_;
    size_t window = limits_.body_window;
    if (content_length_ > 0 && static_cast<size_t>(content_length_) < window)
      window = std::max<size_t>(static_cast<size_t>(content_length_), 512);
    ensure_space(window);
    int n = co_await transport_->read(buf_.get() + wpos_, cap_ - wpos_, timeout);
    if (n == 0) {
      if (llhttp_message_needs_eof(&parser_)) {
        llhttp_errno_t e = llhttp_finish(&parser_);
        if (e == HPE_OK || e == HPE_PAUSED) {
          message_done_ = true;
          continue;
        }
      }
      co_return fail(Errc::invalid_argument, "connection closed in the middle of the body");
    }
    if (n == -ECANCELED || n == -ETIME) co_return fail(Errc::timeout, "timed out reading the body");
    if (n < 0) co_return sys_fail(-n, "read");
    wpos_ += static_cast<size_t>(n);
  }
}

Task<Result<std::string>> MessageReader::read_body_all(size_t limit,
                                                       std::optional<Duration> timeout) {
  std::string out;
  // A HEAD answer's Content-Length describes a body that is not sent.
  if (content_length_ > 0 && !no_body_) {
    if (static_cast<uint64_t>(content_length_) > limit)
      co_return fail(Errc::too_large, str_cat("body exceeds ", limit, " bytes"));
    out.reserve(static_cast<size_t>(content_length_));
  }
  for (;;) {
    auto c = co_await read_body(timeout);
    if (!c) co_return std::unexpected(c.error());
    if (c->empty()) break;
    if (out.size() + c->size() > limit)
      co_return fail(Errc::too_large, str_cat("body exceeds ", limit, " bytes"));
    out.append(*c);
  }
  co_return out;
}

Task<bool> MessageReader::skip_body(size_t max, std::optional<Duration> timeout) {
  size_t skipped = 0;
  while (!message_done_ || chunk_next_ < chunks_.size()) {
    auto c = co_await read_body(timeout);
    if (!c) co_return false;
    if (c->empty()) break;
    skipped += c->size();
    if (skipped > max) co_return false;
  }
  co_return true;
}

}  // namespace berth::io::http
