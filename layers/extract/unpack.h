// unpack: one layer stream (gzip, zstd or plain tar) into one directory, at
// decompression speed. Three stages run on their own threads, handing
// fixed-size buffers along:
//
//   read + sha256(compressed) + decompress  ->  sha256(uncompressed)
//                                           ->  tar parse + FsWriter (io_uring)
//
// so the compressed digest and the diff ID come out of the same single pass
// that writes the files. Layers are independent: unpack several at once,
// each into its own directory (unpack_all).
//
// The destination must be an existing empty directory; on failure it is
// left partly written, and the caller (the layer store) removes it. Every
// call blocks until done: run it off the reactors.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "layers/archive/compression.h"
#include "layers/archive/digest.h"
#include "layers/extract/fs_writer.h"

namespace berth::layers::extract {

struct UnpackOptions {
  WriterOptions writer;
  archive::DecompressOptions decompress;
  size_t buffer_size = 1 << 20;  // bytes per pipeline buffer
  unsigned buffers = 8;          // buffers in flight
};

struct UnpackResult {
  archive::Digest compressed_digest;  // sha256 of the bytes read
  archive::Digest diff_id;            // sha256 of the uncompressed tar
  archive::Compression compression = archive::Compression::none;
  uint64_t compressed_size = 0;
  uint64_t size = 0;  // uncompressed tar bytes
  WriterStats writer;
};

// Fills buf with up to len bytes of the stream; 0 at its end. Blocking.
using Source = std::function<Result<size_t>(char* buf, size_t len)>;

Result<UnpackResult> unpack(const Source& src, const std::string& dest, const UnpackOptions& opts);
Result<UnpackResult> unpack_file(const std::string& path, const std::string& dest,
                                 const UnpackOptions& opts);

struct UnpackJob {
  std::string source_path;
  std::string dest;
};
// Unpacks jobs with at most `parallel` running at once (0: one per core).
// Results in job order; each its own success or error.
std::vector<Result<UnpackResult>> unpack_all(const std::vector<UnpackJob>& jobs,
                                             const UnpackOptions& opts, unsigned parallel = 0);

}  // namespace berth::layers::extract
