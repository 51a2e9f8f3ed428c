// HTTP/1.1 message vocabulary shared by the server and the client: header
// lists, status reasons, URL query handling, percent-decoding.
// Plain values; thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::io::http {

// A header as parsed: views into the reader's buffer (valid until the next
// message is read).
struct HeaderView {
  std::string_view name;
  std::string_view value;
};

// Case-insensitive lookup; the first match.
std::optional<std::string_view> find_header(const std::vector<HeaderView>& headers,
                                            std::string_view name);

// Owned headers for messages we build.
using Headers = std::vector<std::pair<std::string, std::string>>;
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

std::string_view reason_phrase(int status);

// Percent-decoding; '+' becomes ' ' only when plus_as_space (query strings).
// nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space);
std::string percent_encode(std::string_view s);  // for query values and path parts

// Query string "a=1&b=x%20y&c" as decoded pairs, in order (c -> "").
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

// Appends "HTTP/1.1 <status> <reason>\r\n".
void append_status_line(std::string& out, int status);

}  // namespace berth::io::http
