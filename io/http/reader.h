// MessageReader: reads HTTP/1.x requests (server) or responses (client) from
// a Transport with llhttp, one message at a time, pipelining-safe.
//
// The head is parsed in place: method, URL and headers are views into the
// reader's buffer, valid until the next read_head(). Body bytes are handed
// out as chunks (views valid until the next read_body()), so a body of any
// size streams through a fixed window; bytes after the message stay buffered
// for the next one (pipelining) or for whoever takes over the connection
// (upgrade/hijack).
//
// Errors from read_head(): Errc::cancelled when the peer closed cleanly
// before a new message began; timeout when the idle or head deadline passed;
// too_large when the head exceeds the limit; invalid_argument for malformed
// input (the message is llhttp's reason). Owned by one reactor thread.
#pragma once

#include <llhttp.h>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "io/http/message.h"
#include "io/http/transport.h"

namespace berth::io::http {

class MessageReader {
 public:
  enum class Kind { request, response };
  struct Limits {
    size_t max_head = 64 * 1024;
    size_t initial_buffer = 4096;
    size_t body_window = 64 * 1024;  // bytes read per body recv
  };

  MessageReader(Kind kind, Transport* transport, Limits limits);
  MessageReader(Kind kind, Transport* transport) : MessageReader(kind, transport, Limits{}) {}
  ~MessageReader();
  MessageReader(const MessageReader&) = delete;
  MessageReader& operator=(const MessageReader&) = delete;

  // idle: the wait for the first byte; head: from the first byte to the end
  // of the head (a deadline, so a trickle of bytes cannot extend it).
  Task<Result<void>> read_head(std::optional<Duration> idle, std::optional<Duration> head);

  // The next body chunk; empty when the body is complete.
  Task<Result<std::string_view>> read_body(std::optional<Duration> timeout);
  // Reads the rest of the body into a string; too_large past limit.
  Task<Result<std::string>> read_body_all(size_t limit, std::optional<Duration> timeout);
  // Reads and discards up to max bytes of body; false if more remained.
  Task<bool> skip_body(size_t max, std::optional<Duration> timeout);

  // Client side: the request was HEAD (or the status forbids a body), so
  // the response carries none whatever its headers say.
  void set_no_body(bool v) { no_body_ = v; }

  // --- the current head ---
  std::string_view method() const;  // requests
  std::string_view url() const { return view(url_); }
  int status() const;  // responses
  int http_minor() const { return parser_.http_minor; }
  const std::vector<HeaderView>& headers() const { return headers_; }
  std::optional<std::string_view> header(std::string_view name) const {
    return find_header(headers_, name);
  }
  bool keep_alive() const { return keep_alive_; }
  bool upgrade() const { return upgrade_; }
  bool chunked() const;
  // Content-Length, or -1 when absent.
  int64_t content_length() const { return content_length_; }
  bool expects_continue() const;
  bool body_complete() const { return message_done_; }
  bool body_started() const { return body_started_; }
  // Buffered bytes not yet parsed (the next message, or a hijacked stream).
  std::string_view buffered() const;
  bool has_buffered() const { return rpos_ < wpos_; }
  // A whole request head is already buffered (the next read_head() will
  // not wait for the network).
  bool has_buffered_head() const { return buffered().find("\r\n\r\n") != std::string_view::npos; }
  size_t head_bytes_seen() const { return wpos_ - msg_start_; }

 private:
  struct Span {
    size_t off = 0, len = 0;
  };
  struct HeaderSpan {
    Span name, value;
  };
  std::string_view view(Span s) const { return {buf_.get() + s.off, s.len}; }
  void append_span(Span& s, const char* at, size_t len);
  void start_message();
  void ensure_space(size_t min_free);
  // Runs llhttp over buffered bytes; false + error on a parse error.
  Result<void> parse();
  Result<void> check_request_head() const;

  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, size_t len);
  static int on_method(llhttp_t* p, const char* at, size_t len);
  static int on_header_field(llhttp_t* p, const char* at, size_t len);
  static int on_header_value(llhttp_t* p, const char* at, size_t len);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t len);
  static int on_message_complete(llhttp_t* p);

  Kind kind_;
  Transport* transport_;
  Limits limits_;
  llhttp_t parser_{};
  llhttp_settings_t settings_{};

  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
  size_t rpos_ = 0;       // next byte to parse
  size_t wpos_ = 0;       // end of received data
  size_t msg_start_ = 0;  // where the current message began
  size_t head_end_ = 0;   // end of the bytes that hold the head

  Span method_, url_;
  std::vector<HeaderSpan> header_spans_;
  std::vector<HeaderView> headers_;
  bool in_value_ = false;
  bool head_done_ = false;
  bool message_done_ = false;
  bool body_started_ = false;
  bool keep_alive_ = false;
  bool upgrade_ = false;
  bool no_body_ = false;
  int64_t content_length_ = -1;
  std::vector<Span> chunks_;
  size_t chunk_next_ = 0;
};

}  // namespace berth::io::http
