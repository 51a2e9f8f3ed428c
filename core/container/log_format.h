// How docker writes log messages on the wire of /containers/{id}/logs, and
// the parsing of that endpoint's time and tail parameters.
//
// Framing (docker's stdcopy): for a container without a TTY every message is
// one frame, an 8-byte header [stream, 0, 0, 0, size as big-endian u32]
// followed by the payload; with a TTY the payloads go out raw, one after the
// other. With timestamps, each payload starts with the message's time as
// docker's RFC3339NanoFixed in UTC and a space:
// "2026-11-30T15:50:26.123456789Z ". The pieces of a line longer than 16 KiB
// each get their own prefix (and frame), exactly as docker prints them.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/container/log_reader.h"

namespace berth::core::container {

struct LogFormat {
  bool timestamps = false;
  bool tty = false;  // raw payloads instead of multiplexed frames
};

// "2026-11-30T15:50:26.123456789Z": always nine digits of fraction, UTC.
std::string format_log_time(int64_t time_ns);
void append_log_time(std::string& out, int64_t time_ns);

// Appends one message as docker writes it.
void append_log_message(std::string& out, const LogMessage& m, const LogFormat& f);
// Appends every message of a batch.
void append_log_messages(std::string& out, const std::vector<LogMessage>& ms, const LogFormat& f);

// The API's since/until: Unix seconds with an optional fraction, "1700000000"
// or "1700000000.123456789" (what the docker CLI sends; a fraction shorter
// than nine digits is scaled as a decimal). nullopt if malformed.
std::optional<int64_t> parse_log_time(std::string_view s);
// The API's tail: "all" (or anything docker cannot parse as a number) is -1,
// a negative number too, else N.
int64_t parse_log_tail(std::string_view s);

}  // namespace berth::core::container
