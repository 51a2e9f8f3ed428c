// TarReader: a push parser for tar archives (ustar, GNU, PAX, star, V7).
//
// The caller feeds bytes as they arrive, split anywhere (one byte at a time
// works); the reader calls its TarSink for each member: on_entry() once the
// header (with any PAX/GNU extension headers before it) is decoded, on_data()
// zero or more times with the content, on_entry_end() after the last byte.
// Content is handed out as views into the fed buffer wherever it lies there
// whole, so a member's bytes are never copied by the reader. finish() at the
// end of input reports truncation. End-of-archive zero blocks are optional
// (GNU tar accepts a missing one); bytes after them are ignored.
//
// GNU sparse files (old 'S' headers and PAX formats 0.0, 0.1 and 1.0) come
// out as regular files of their full size; holes go to on_hole(), which by
// default delivers zeros through on_data().
//
// Hostile input is the normal case: every header field is validated, every
// length checked against limits, and every error names the entry (its path
// when known, always the byte offset of its header). Paths are not checked
// for escapes (".." stays): that is the extractor's job.
//
// Thread-safety: a reader is used by one thread at a time. The sink must
// outlive the reader; views passed to the sink are valid only during the call.
// After an error the reader stays failed and returns that error again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "layers/archive/entry.h"

namespace berth::layers::archive {

class TarSink {
 public:
  virtual ~TarSink() = default;
  // entry is valid until on_entry_end() returns.
  virtual Result<void> on_entry(const Entry& entry) = 0;
  // Entry content, in order, in pieces of any size (never empty).
  virtual Result<void> on_data(std::string_view data) = 0;
  // A run of zeros in a sparse file. The default hands zeros to on_data; an
  // extractor may override it to leave a real hole instead.
  virtual Result<void> on_hole(uint64_t length);
  virtual Result<void> on_entry_end() = 0;
};

struct TarLimits {
  size_t max_pax_header = 1 << 20;       // one 'x' or 'g' extended header
  size_t max_long_name = 64 << 10;       // GNU 'L'/'K' long name or link name
  size_t max_sparse_segments = 1 << 18;  // data segments of one sparse file
};

class TarReader {
 public:
  explicit TarReader(TarSink& sink, TarLimits limits = {});
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  Result<void> feed(std::string_view bytes);
  // The input is over: fails if it stopped inside a header, an extension
  // header without its member, or a member's content or padding.
  Result<void> finish();

  bool at_end() const { return state_ == State::end; }  // end-of-archive seen
  uint64_t offset() const { return pos_; }              // bytes consumed so far
  uint64_t entries() const { return entries_; }         // members delivered

 private:
  enum class State : unsigned char {
    header,      // expecting a header block
    gnu_ext,     // old GNU sparse extension blocks
    data,        // member content (delivered, sparse-expanded or discarded)
    meta,        // content of an 'x', 'g', 'L' or 'K' header, collected
    sparse_map,  // the map at the start of a PAX 1.0 sparse member
    padding,     // zeros up to the next block boundary
    after_zero,  // one zero block seen; expecting the second
    end,         // end-of-archive seen; the rest is ignored
    failed,
  };
  struct Record {
    std::string key;
    std::string value;
  };
  struct Segment {
    uint64_t offset;
    uint64_t length;
  };

  const char* take_block(std::string_view& in);
  Result<void> on_block(const char* blk, uint64_t at);
  Result<void> on_header(const char* blk, uint64_t at);
  Result<void> on_meta_done();
  Result<void> build_entry(const char* blk, char type, uint64_t header_size);
  Result<void> apply_pax(uint64_t& data_size);
  Result<void> setup_gnu_sparse(const char* blk);
  Result<void> read_gnu_sparse(const char* blk, size_t off, size_t count);
  Result<void> setup_pax_sparse();
  Result<void> parse_sparse_map_text(bool& complete);
  Result<void> check_sparse_map();
  Result<void> start_data();
  Result<void> deliver(std::string_view data);
  Result<void> end_data();
  Result<void> parse_pax(std::string_view data, bool global);
  const std::string* pax(std::string_view key) const;

  Error error(Errc code, std::string_view what) const;
  Result<void> fail_with(Error e);

  TarSink* sink_;
  TarLimits limits_;
  State state_ = State::header;
  uint64_t pos_ = 0;         // bytes consumed so far
  uint64_t header_pos_ = 0;  // offset of the current member's first header
  uint64_t entries_ = 0;
  char block_[512];
  size_t block_fill_ = 0;

  // The current data region and what to do with it.
  uint64_t remaining_ = 0;
  uint32_t padding_ = 0;
  bool discard_ = false;  // consume without delivering (labels, dumpdirs)
  bool in_entry_ = false;
  bool have_path_ = false;
  Entry entry_;

  // Extension headers waiting for their member.
  bool pending_meta_ = false;
  char meta_type_ = 0;
  std::string meta_;
  std::string long_name_, long_link_;
  bool has_long_name_ = false, has_long_link_ = false;
  std::vector<Record> pax_local_, pax_global_;
  std::vector<uint64_t> pax_sparse_pairs_;  // PAX 0.0 offset/numbytes records

  // Sparse members.
  bool sparse_ = false;
  std::vector<Segment> segments_;
  size_t segment_next_ = 0;
  uint64_t segment_left_ = 0;
  uint64_t file_pos_ = 0;
  std::string map_text_;
  size_t map_cursor_ = 0;
  int64_t map_numbers_left_ = -1;  // -1: the count is not read yet
  uint64_t map_offset_ = 0;

  Error error_;
};

}  // namespace berth::layers::archive
