// Container output as the daemon streams it to attach and logs: docker's
// multiplexed framing when the container has no TTY (an 8-byte header per
// frame: stream byte, three zero bytes, big-endian u32 payload length), raw
// bytes with a TTY; and the copy of a hijacked connection to and from the
// CLI's own stdin, stdout and stderr.
//
// Runs on the calling thread's reactor; plain values otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "io/http/client.h"
#include "io/task.h"

namespace berth::cli {

// Splits a multiplexed stream into its payloads as bytes arrive, without
// holding payloads back: a frame's payload may come out in several pieces.
class StreamDemux {
 public:
  struct Piece {
    int stream;             // 0 stdin (written to stdout, as docker does), 1 stdout, 2 stderr
    std::string_view data;  // points into the fed bytes
  };
  // Appends the payload pieces in data to out. Fails on an unknown stream
  // byte or, at the end of a stream-3 frame, with the daemon's error text
  // ("error from daemon in stream: ...").
  Result<void> feed(std::string_view data, std::vector<Piece>& out);
  // True between frames (a clean place for the stream to end).
  bool at_frame_boundary() const { return header_len_ == 0 && remaining_ == 0; }

 private:
  unsigned char header_[8] = {};
  size_t header_len_ = 0;
  uint32_t remaining_ = 0;
  int stream_ = 1;
  std::string system_error_;
};

// Writes all of data to fd through the reactor.
io::Task<Result<void>> write_fd(int fd, std::string_view data);

// Writes container output to stdout/stderr as it arrives: raw to stdout
// with a TTY, demultiplexed otherwise.
struct OutputSink {
  bool tty = false;
  StreamDemux demux;
  std::vector<StreamDemux::Piece> pieces;
  io::Task<Result<void>> write(std::string_view data);
};

// A hijacked attach connection shared by the output pump and the stdin
// copier, so whichever ends last frees it.
struct AttachStream {
  std::unique_ptr<io::http::ClientConnection> conn;
  bool tty = false;
};

// Copies the stream's output to stdout/stderr until the daemon ends it.
io::Task<Result<void>> pump_output(std::shared_ptr<AttachStream> s);
// Copies the CLI's stdin into the stream until EOF, then half-closes the
// write side (the container reads EOF). With stdin false, half-closes at
// once, as docker does when stdin is not attached. Spawn it.
io::Task<void> pump_stdin(std::shared_ptr<AttachStream> s, bool stdin);

}  // namespace berth::cli
