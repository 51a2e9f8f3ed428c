// JsonMessageDisplay: the daemon's JSON message streams (pull, push, load,
// build) shown as docker's jsonmessage.DisplayJSONMessagesStream shows them.
//
// On a terminal each layer id keeps one line, redrawn in place with ANSI
// cursor movement ("a1b2c3d4e5f6: Downloading [==>   ] 1.2MB/3MB"); without
// one, progress updates are dropped and every other message is a plain line,
// with no control codes. The first error in the stream ends the display and
// is returned. Bytes are fed as they arrive, in any pieces.
//
// Plain value writing to a FILE*; not thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace berth::cli {

// One decoded message; absent fields are empty / zero.
struct JsonMessage {
  std::string status, id, stream, progress_message, from;
  bool has_progress = false;  // a "progressDetail" object was present
  int64_t current = 0, total = 0, start = 0;
  std::string units;
  bool hide_counts = false;
  std::string error;  // errorDetail.message, else error
  int error_code = 0;
  std::string aux;  // the "aux" value as JSON text, or ""
};

// Decodes one line of the stream.
Result<JsonMessage> parse_json_message(std::string_view line);

// docker's JSONProgress.String(): "[=====>     ] 1.5MB/3MB 2s" for a
// terminal width (the bar only above 110 columns); now in Unix seconds.
std::string progress_string(const JsonMessage& m, int width, int64_t now);

class JsonMessageDisplay {
 public:
  // width: the terminal's columns (docker assumes 200 when unknown).
  JsonMessageDisplay(FILE* out, bool terminal, int width = 200)
      : out_(out), terminal_(terminal), width_(width) {}

  // Called with each aux message (push's {"Tag","Digest","Size"}).
  void on_aux(std::function<void(const JsonMessage&)> fn) { aux_ = std::move(fn); }
  // For tests: a fixed clock for the time-left estimate.
  void set_now(int64_t now) { now_ = now; }

  // Renders the complete lines in data. After an error message, returns it
  // (Errc::internal, or unauthorized for code 401) and ignores the rest.
  Result<void> feed(std::string_view data);
  // Renders a last line without a newline, if any.
  Result<void> finish();

 private:
  Result<void> line(std::string_view text);
  void display(const JsonMessage& m);

  FILE* out_;
  bool terminal_;
  int width_;
  std::optional<int64_t> now_;
  std::function<void(const JsonMessage&)> aux_;
  std::map<std::string, unsigned> ids_;  // layer id -> its line among the tracked ones
  std::string partial_;
  std::optional<Error> failed_;
};

}  // namespace berth::cli
