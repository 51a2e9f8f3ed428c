// The reader's state machine: blocks, data regions, padding, end of archive.
// Turning a header into an Entry lives in tar_reader_entry.cc, sparse files
// in tar_reader_sparse.cc.
#include "layers/archive/tar_reader.h"

#include <algorithm>
#include <cstring>

#include "core/base/strings.h"
#include "layers/archive/tar_format.h"

namespace berth::layers::archive {

namespace {
constexpr char kZeros[64 * 1024] = {};
}  // namespace

Result<void> TarSink::on_hole(uint64_t length) {
  while (length > 0) {
    size_t n = std::min<uint64_t>(length, sizeof kZeros);
    BERTH_TRY(on_data({kZeros, n}));
    length -= n;
  }
  return {};
}

TarReader::TarReader(TarSink& sink, TarLimits limits) : sink_(&sink), limits_(limits) {}

Error TarReader::error(Errc code, std::string_view what) const {
  if (have_path_)
    return Error{
        code, 0,
        str_cat("tar: entry \"", entry_.path, "\" (header at offset ", header_pos_, "): ", what)};
  return Error{code, 0, str_cat("tar: header at offset ", header_pos_, ": ", what)};
}

Result<void> TarReader::fail_with(Error e) {
  state_ = State::failed;
  error_ = e;
  return std::unexpected(std::move(e));
}

// A whole block from the input: a pointer into it when it lies there whole,
// else into block_ once enough pieces have arrived; nullptr until then.
const char* TarReader::take_block(std::string_view& in) {
  if (block_fill_ == 0 && in.size() >= tar::kBlockSize) {
    const char* p = in.data();
    in.remove_prefix(tar::kBlockSize);
    pos_ += tar::kBlockSize;
    return p;
  }
  size_t n = std::min(tar::kBlockSize - block_fill_, in.size());
  std::memcpy(block_ + block_fill_, in.data(), n);
  block_fill_ += n;
  in.remove_prefix(n);
  pos_ += n;
  if (block_fill_ < tar::kBlockSize) return nullptr;
  block_fill_ = 0;
  return block_;
}

Result<void> TarReader::feed(std::string_view in) {
  if (state_ == State::failed) return std::unexpected(error_);
  while (!in.empty()) {
    switch (state_) {
      case State::header:
      case State::gnu_ext:
      case State::after_zero: {
        const char* blk = take_block(in);
        if (!blk) return {};
        auto r = on_block(blk, pos_ - tar::kBlockSize);
        if (!r) return fail_with(std::move(r.error()));
        break;
      }
      case State::data: {
        size_t n = std::min<uint64_t>(remaining_, in.size());
        auto r = deliver(in.substr(0, n));
        if (!r) return fail_with(std::move(r.error()));
        in.remove_prefix(n);
        pos_ += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          auto e = end_data();
          if (!e) return fail_with(std::move(e.error()));
        }
        break;
      }
      case State::meta: {
        size_t n = std::min<uint64_t>(remaining_, in.size());
        meta_.append(in.data(), n);
        in.remove_prefix(n);
        pos_ += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          auto r = on_meta_done();
          if (!r) return fail_with(std::move(r.error()));
        }
        break;
      }
      case State::sparse_map: {
        // The map is read in whole blocks; it is parsed after each one.
        size_t want = tar::kBlockSize - map_text_.size() % tar::kBlockSize;
        size_t n = std::min<uint64_t>({want, in.size(), remaining_});
        map_text_.append(in.data(), n);
        in.remove_prefix(n);
        pos_ += n;
        remaining_ -= n;
        if (n < want && remaining_ > 0) break;
        bool complete = false;
        auto r = parse_sparse_map_text(complete);
        if (r && !complete && remaining_ < tar::kBlockSize)
          r = std::unexpected(error(Errc::corrupt, "sparse map runs past the member's size"));
        if (r && complete) r = start_data();
        if (!r) return fail_with(std::move(r.error()));
        break;
      }
      case State::padding: {
        size_t n = std::min<size_t>(padding_, in.size());
        in.remove_prefix(n);
        pos_ += n;
        padding_ -= static_cast<uint32_t>(n);
        if (padding_ == 0) state_ = State::header;
        break;
      }
      case State::end: pos_ += in.size(); return {};
      case State::failed: return std::unexpected(error_);
    }
  }
  return {};
}

Result<void> TarReader::on_block(const char* blk, uint64_t at) {
  if (state_ == State::gnu_ext) {
    BERTH_TRY(read_gnu_sparse(blk, 0, tar::kGnuExtEntries));
    if (blk[tar::kGnuExtIsExtended]) return {};
    return start_data();
  }
  if (state_ == State::after_zero) {
    if (!tar::is_zero_block(blk)) {
      header_pos_ = at;
      have_path_ = false;
      return std::unexpected(error(Errc::corrupt, "a lone zero block is followed by more data"));
    }
    state_ = State::end;
    return {};
  }
  return on_header(blk, at);
}

Result<void> TarReader::start_data() {
  if (sparse_) BERTH_TRY(check_sparse_map());
  BERTH_TRY(sink_->on_entry(entry_));
  in_entry_ = true;
  ++entries_;
  state_ = State::data;
  if (remaining_ == 0) return end_data();
  return {};
}

Result<void> TarReader::deliver(std::string_view data) {
  if (discard_ || data.empty()) return {};
  if (!sparse_) return sink_->on_data(data);
  while (!data.empty()) {
    while (segment_left_ == 0) {
      // Validated maps cover the stored data exactly, so a segment is left.
      const Segment& s = segments_[segment_next_++];
      if (s.offset > file_pos_) BERTH_TRY(sink_->on_hole(s.offset - file_pos_));
      file_pos_ = s.offset;
      segment_left_ = s.length;
    }
    size_t n = std::min<uint64_t>(segment_left_, data.size());
    BERTH_TRY(sink_->on_data(data.substr(0, n)));
    data.remove_prefix(n);
    segment_left_ -= n;
    file_pos_ += n;
  }
  return {};
}

Result<void> TarReader::end_data() {
  if (sparse_ && file_pos_ < entry_.size) BERTH_TRY(sink_->on_hole(entry_.size - file_pos_));
  if (in_entry_) {
    in_entry_ = false;
    BERTH_TRY(sink_->on_entry_end());
  }
  state_ = padding_ ? State::padding : State::header;
  return {};
}

Result<void> TarReader::finish() {
  if (state_ == State::failed) return std::unexpected(error_);
  Result<void> r;
  switch (state_) {
    case State::end: break;
    case State::after_zero:
      if (block_fill_ > 0)
        r = std::unexpected(Error{Errc::corrupt, 0,
                                  str_cat("tar: archive ends inside the end-of-archive block at "
                                          "offset ",
                                          pos_ - block_fill_)});
      break;
    case State::header:
      if (block_fill_ > 0) {
        r = std::unexpected(Error{Errc::corrupt, 0,
                                  str_cat("tar: truncated header at offset ", pos_ - block_fill_,
                                          " (", block_fill_, " of 512 bytes)")});
      } else if (pending_meta_) {
        r = std::unexpected(
            error(Errc::corrupt, "archive ends after an extension header, before its member"));
      }
      break;
    case State::gnu_ext:
      r = std::unexpected(error(Errc::corrupt, "truncated in the sparse extension headers"));
      break;
    case State::data:
    case State::meta:
    case State::sparse_map:
      r = std::unexpected(error(Errc::corrupt, str_cat("truncated: archive ends ", remaining_,
                                                       " bytes before the end of "
                                                       "the content")));
      break;
    case State::padding:
      r = std::unexpected(error(Errc::corrupt, "truncated: archive ends inside the padding"));
      break;
    case State::failed: break;
  }
  if (!r) return fail_with(std::move(r.error()));
  return {};
}

}  // namespace berth::layers::archive
