// The on-disk format of a container's log: what the container wrote on its
// stdout and stderr, as records, in files that rotate by size.
//
// Files (DIR is ROOT/containers/<id>):
//   DIR/log        the current file, the only one written
//   DIR/log.1 ...  older files, log.N-1 the oldest (N = max-file)
//   DIR/log.new    a file being created; renamed onto DIR/log once its
//                  header is written, so a reader never sees a log without
//                  one. A leftover is removed when a writer opens.
// Rotation renames log.K-1 to log.K from the oldest down, then log to log.1
// (each rename replaces its target, which drops the oldest), then puts a new
// log in place. With max-file 1 the new log simply replaces the old.
//
// A file is a 16-byte header and records, all integers little-endian:
//
//   file header   0  8  magic "BERTHLOG"
//                 8  4  version (1)
//                12  4  salt: random per file, the seed of every record's CRC
//
//   record        0  4  crc: CRC-32C of bytes [4, 24+n), seeded with the salt
//                 4  4  n: payload length
//                 8  8  time: nanoseconds since the Unix epoch, UTC (signed)
//                16  1  stream: 0 stdin, 1 stdout, 2 stderr (docker's ids)
//                17  1  flags: bit 0 partial, bit 1 split, bit 2 end (below);
//                       others 0
//                18  2  reserved, 0
//                20  n  payload: the bytes exactly as the container wrote them
//             20+n  4  n again, so that a reader can walk backwards
//
// A record is one piece of one line: the writer cuts what it reads at every
// newline, and cuts a line that grows to 16 KiB without one (docker's copier
// does the same). A piece that ends with its newline is a whole line; one
// without is flagged partial and continues in the next record of the same
// stream. A partial piece that reached 16 KiB is also flagged split: docker
// emits a message there, so a reader ends its message at a split piece or at
// a whole line (see LogRecord::ends_message). When a stream reaches EOF with
// a line still open, the writer adds an empty record flagged partial and end
// (and split if bytes of the line came since its last cut, for then it ends
// a message): docker emits what is left of the line as a last message,
// stamped with the time of EOF, and the stream's next output (a restart)
// begins a new line.
//
// Crash tolerance: a record is valid when both lengths agree and the CRC
// matches. A crash can leave a torn record at the end of the current file;
// readers stop before it, and a writer truncates it away when it reopens.
// The salt keeps a record that a container prints inside its own output
// from passing for a real one when a reader searches for a record boundary.
//
// Pure functions over memory; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth::core::container {

enum class LogStream : uint8_t { in = 0, out = 1, err = 2 };

// "stdin", "stdout", "stderr" (docker's names), "" for anything else.
std::string_view log_stream_name(LogStream s);

inline constexpr uint8_t log_flag_partial = 1;  // the piece does not end its line
inline constexpr uint8_t log_flag_split = 2;    // a 16 KiB piece: docker ends a message here
inline constexpr uint8_t log_flag_end = 4;      // empty: the stream ended (EOF) here

inline constexpr std::string_view log_magic = "BERTHLOG";
inline constexpr uint32_t log_version = 1;
inline constexpr size_t log_header_size = 16;
inline constexpr size_t log_record_overhead = 24;  // 20 before the payload, 4 after
// Docker's copier buffer: a line longer than this becomes several messages.
inline constexpr size_t log_piece_size = 16 * 1024;
// Readers treat a longer record as corrupt (the writer never writes one).
inline constexpr size_t log_max_payload = 1 << 20;

// One decoded record. bytes points into the buffer it was decoded from.
struct LogRecord {
  int64_t time_ns = 0;
  LogStream stream = LogStream::out;
  uint8_t flags = 0;
  std::string_view bytes;

  bool partial() const { return (flags & log_flag_partial) != 0; }
  // The end-of-stream marker (empty, also flagged partial).
  bool stream_end() const { return (flags & log_flag_end) != 0; }
  // Whether docker's message ends with this piece (a whole line, or a
  // 16 KiB piece of a longer one).
  bool ends_message() const { return !partial() || (flags & log_flag_split) != 0; }
};

std::string encode_log_header(uint32_t salt);
// The salt of a valid header; false if header is not one (short, wrong
// magic or version).
bool decode_log_header(std::string_view header, uint32_t* salt);

// Appends one record to out.
void encode_log_record(std::string& out, uint32_t salt, int64_t time_ns, LogStream stream,
                       uint8_t flags, std::string_view bytes);

enum class LogDecode {
  ok,         // *rec and *size are set
  need_more,  // buf holds a prefix of what may be a valid record
  corrupt,    // no valid record at this position
};

// Decodes the record that starts at buf[0].
LogDecode decode_log_record(std::string_view buf, uint32_t salt, LogRecord* rec, size_t* size);
// Decodes the record that ends at the end of buf (walking backwards);
// need_more when buf is too short to tell.
LogDecode decode_log_record_backward(std::string_view buf, uint32_t salt, LogRecord* rec,
                                     size_t* size);

// CRC-32C (Castagnoli), extending crc over data (hardware when the CPU has
// SSE 4.2). crc32c(0, "123456789", 9) == 0xe3069283.
uint32_t crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace berth::core::container
