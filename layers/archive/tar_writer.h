// TarWriter: writes entries as a tar stream, byte for byte as Go's
// archive/tar writes them with Format = FormatPAX, which is what Docker and
// containerd use for layers. Layer digests depend on these bytes, so the
// output is deterministic and its conventions are Go's:
//   - a plain ustar header (magic "ustar\0", version "00") whenever ustar can
//     hold the entry: names up to 100 bytes, or ASCII names up to 256 that
//     split at a '/' into a 155-byte prefix and a 100-byte name; numeric
//     fields as zero-padded octal with a NUL in the last byte; checksum as
//     six octal digits, NUL, space; devmajor/devminor always written;
//   - otherwise a PAX 'x' header first, holding what ustar cannot: path or
//     link target too long or not ASCII, uname/gname longer than 32 or not
//     ASCII, uid/gid >= 2^21, size >= 8 GiB, mtime before 1970 or after 2242,
//     sub-second mtime (when asked for), atime and ctime (when asked for),
//     xattrs (as SCHILY.xattr.NAME). Its records are sorted by key; it is
//     named "DIR/PaxHeaders.0/BASE" (Go's path.Join, cut to 100 bytes) with
//     mode, ids and mtime 0. The ustar header after it holds what fits: the
//     name with non-ASCII bytes dropped, cut to 100 bytes, no prefix; 0 for
//     numbers out of range;
//   - directories get a trailing "/" on their name (as Docker's
//     FileInfoHeader gives them); content is padded to 512 bytes; finish()
//     writes two zero blocks and no record padding.
//
// Thread-safety: one thread at a time. The output function is called
// synchronously from add()/write_data()/finish() with views valid only
// during the call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "layers/archive/entry.h"

namespace berth::layers::archive {

struct TarWriterOptions {
  // Keep mtime.nsec (in a PAX mtime record). Off: truncated to whole seconds,
  // as Docker does before writing a layer.
  bool subsecond_mtime = false;
  // Write entry.atime / entry.ctime (PAX records) when they are set.
  bool atime_ctime = false;
  // Put the S_IFMT file type bits into the mode field, as Go 1.8's
  // archive/tar did (Docker kept doing so for digest stability).
  bool mode_type_bits = false;
};

class TarWriter {
 public:
  using Output = std::function<Result<void>(std::string_view)>;

  explicit TarWriter(Output out, TarWriterOptions options = {});
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  // Writes entry's header(s). For a regular file, entry.size bytes of content
  // must follow through write_data() before the next add() or finish().
  // Other types carry no content (their size is written as 0).
  Result<void> add(const Entry& entry);
  Result<void> write_data(std::string_view data);
  // add() and write_data() for content in memory; entry.size is ignored.
  Result<void> add_file(const Entry& entry, std::string_view content);
  // Writes the end-of-archive marker; the writer takes nothing after it.
  Result<void> finish();

  uint64_t bytes_written() const { return written_; }

 private:
  Result<void> add_header(const Entry& entry, uint64_t size);
  Result<void> emit(std::string_view bytes);

  Output out_;
  TarWriterOptions options_;
  uint64_t remaining_ = 0;  // content still owed for the current entry
  uint32_t padding_ = 0;
  uint64_t written_ = 0;
  bool finished_ = false;
  std::string current_;  // path of the current entry, for errors
  std::string pax_;      // reused buffer for PAX records
};

}  // namespace berth::layers::archive
