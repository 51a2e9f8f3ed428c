// The reader's GNU sparse support. Every format describes the file as a map
// of (offset, length) data segments, stored back to back in the archive; the
// rest of the file, up to its real size, is holes.
//   old GNU ('S'):  4 map entries in the header, 21 more in each extension
//                   block that follows it while "isextended" is set;
//   PAX 0.0:        repeated GNU.sparse.offset / GNU.sparse.numbytes records;
//   PAX 0.1:        GNU.sparse.map = "offset,length,offset,length...";
//   PAX 1.0:        the map as decimal lines at the start of the content,
//                   padded to a block, counted in the member's size.
#include "core/base/strings.h"
#include "layers/archive/pax.h"
#include "layers/archive/tar_format.h"
#include "layers/archive/tar_reader.h"

namespace berth::layers::archive {

namespace {
constexpr int64_t kMaxSize = int64_t{1} << 62;
constexpr size_t kMaxMapLine = 20;  // digits of a uint64
}  // namespace

Result<void> TarReader::setup_gnu_sparse(const char* blk) {
  sparse_ = true;
  entry_.sparse = true;
  segments_.clear();
  std::optional<int64_t> real = tar::parse_numeric(tar::field(blk, tar::kGnuRealSize));
  if (!real || *real < 0 || *real > kMaxSize)
    return std::unexpected(error(Errc::corrupt, "invalid sparse real size field"));
  entry_.size = static_cast<uint64_t>(*real);
  BERTH_TRY(read_gnu_sparse(blk, tar::kGnuSparse.off, 4));
  if (blk[tar::kGnuIsExtended]) {
    state_ = State::gnu_ext;
    return {};
  }
  return start_data();
}

Result<void> TarReader::read_gnu_sparse(const char* blk, size_t off, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const char* e = blk + off + i * 24;
    if (e[0] == '\0') break;  // an empty slot ends the list, as in GNU and BSD tar
    std::optional<int64_t> o = tar::parse_numeric({e, 12});
    std::optional<int64_t> n = tar::parse_numeric({e + 12, 12});
    if (!o || !n || *o < 0 || *n < 0)
      return std::unexpected(error(Errc::corrupt, "invalid sparse map entry"));
    if (segments_.size() >= limits_.max_sparse_segments)
      return std::unexpected(error(Errc::too_large, "too many sparse segments"));
    segments_.push_back({static_cast<uint64_t>(*o), static_cast<uint64_t>(*n)});
  }
  return {};
}

Result<void> TarReader::setup_pax_sparse() {
  entry_.sparse = true;
  segments_.clear();
  const std::string* major = pax("GNU.sparse.major");
  const std::string* minor = pax("GNU.sparse.minor");
  bool v1 = false;
  if (major || minor) {
    std::string_view ma = major ? std::string_view(*major) : "";
    std::string_view mi = minor ? std::string_view(*minor) : "";
    if (ma == "1" && mi == "0") {
      v1 = true;
    } else if (!(ma == "0" && (mi == "0" || mi == "1"))) {
      return std::unexpected(
          error(Errc::not_implemented, str_cat("unsupported GNU sparse format version ",
                                               ma.substr(0, 16), ".", mi.substr(0, 16))));
    }
  }
  const std::string* size = pax("GNU.sparse.size");
  if (!size) size = pax("GNU.sparse.realsize");
  if (!size) return std::unexpected(error(Errc::corrupt, "GNU sparse member without a real size"));
  std::optional<uint64_t> real = pax::parse_uint(*size);
  if (!real || *real > static_cast<uint64_t>(kMaxSize))
    return std::unexpected(error(Errc::corrupt, "invalid GNU sparse real size"));
  entry_.size = *real;

  if (v1) {
    pax_sparse_pairs_.clear();
    map_text_.clear();
    map_cursor_ = 0;
    map_numbers_left_ = -1;
    state_ = State::sparse_map;
    if (remaining_ < tar::kBlockSize)
      return std::unexpected(error(Errc::corrupt, "sparse member too short for its map"));
    return {};
  }

  if (const std::string* map = pax("GNU.sparse.map")) {
    std::string_view rest = *map;
    std::vector<uint64_t>& nums = pax_sparse_pairs_;
    nums.clear();
    while (true) {
      size_t comma = rest.find(',');
      std::optional<uint64_t> v = pax::parse_uint(rest.substr(0, comma));
      if (!v) return std::unexpected(error(Errc::corrupt, "malformed GNU.sparse.map"));
      if (nums.size() / 2 >= limits_.max_sparse_segments)
        return std::unexpected(error(Errc::too_large, "too many sparse segments"));
      nums.push_back(*v);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (pax_sparse_pairs_.size() % 2)
    return std::unexpected(error(Errc::corrupt, "GNU sparse map with an odd number of values"));
  for (size_t i = 0; i < pax_sparse_pairs_.size(); i += 2)
    segments_.push_back({pax_sparse_pairs_[i], pax_sparse_pairs_[i + 1]});
  pax_sparse_pairs_.clear();
  if (const std::string* blocks = pax("GNU.sparse.numblocks")) {
    std::optional<uint64_t> n = pax::parse_uint(*blocks);
    if (!n || *n != segments_.size())
      return std::unexpected(error(Errc::corrupt, "GNU.sparse.numblocks does not match the map"));
  }
  return start_data();
}

Result<void> TarReader::parse_sparse_map_text(bool& complete) {
  complete = false;
  while (true) {
    size_t nl = map_text_.find('\n', map_cursor_);
    if (nl == std::string::npos) {
      if (map_text_.size() - map_cursor_ > kMaxMapLine)
        return std::unexpected(error(Errc::corrupt, "malformed sparse map"));
      return {};
    }
    std::optional<uint64_t> v =
        pax::parse_uint(std::string_view(map_text_).substr(map_cursor_, nl - map_cursor_));
    if (!v) return std::unexpected(error(Errc::corrupt, "malformed sparse map"));
    map_cursor_ = nl + 1;
    if (map_numbers_left_ < 0) {
      if (*v > limits_.max_sparse_segments)
        return std::unexpected(
            error(Errc::too_large, str_cat("sparse map of ", *v, " segments is too large")));
      map_numbers_left_ = static_cast<int64_t>(2 * *v);
    } else {
      if (map_numbers_left_ % 2 == 0)
        map_offset_ = *v;
      else
        segments_.push_back({map_offset_, *v});
      --map_numbers_left_;
    }
    if (map_numbers_left_ == 0) {
      complete = true;
      return {};
    }
  }
}

Result<void> TarReader::check_sparse_map() {
  uint64_t end = 0, total = 0;
  for (const Segment& s : segments_) {
    if (s.offset < end)
      return std::unexpected(error(Errc::corrupt, "sparse map segments overlap or are unordered"));
    if (s.offset > entry_.size || s.length > entry_.size - s.offset)
      return std::unexpected(error(Errc::corrupt, "sparse map extends past the file's size"));
    end = s.offset + s.length;
    total += s.length;
  }
  if (total != remaining_)
    return std::unexpected(
        error(Errc::corrupt,
              str_cat("sparse map covers ", total, " bytes but the member stores ", remaining_)));
  segment_next_ = 0;
  segment_left_ = 0;
  file_pos_ = 0;
  return {};
}

}  // namespace berth::layers::archive
