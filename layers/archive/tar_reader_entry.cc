// The reader's header decoding: a header block plus the extension headers
// before it (GNU long names, PAX records) become one Entry.
#include <cstring>

#include "core/base/strings.h"
#include "layers/archive/pax.h"
#include "layers/archive/tar_format.h"
#include "layers/archive/tar_reader.h"

namespace berth::layers::archive {

namespace {

constexpr int64_t kMaxSize = int64_t{1} << 62;

uint32_t block_padding(uint64_t n) {
  return static_cast<uint32_t>((tar::kBlockSize - n % tar::kBlockSize) % tar::kBlockSize);
}

std::string describe_type(char type) {
  if (type > ' ' && type < 0x7f) return str_cat('\'', type, '\'');
  static constexpr char kHex[] = "0123456789abcdef";
  auto c = static_cast<unsigned char>(type);
  return str_cat("0x", kHex[c >> 4], kHex[c & 15]);
}

}  // namespace

const std::string* TarReader::pax(std::string_view key) const {
  for (auto it = pax_local_.rbegin(); it != pax_local_.rend(); ++it)
    if (it->key == key) return it->value.empty() ? nullptr : &it->value;  // "" unsets
  for (const Record& r : pax_global_)
    if (r.key == key) return &r.value;
  return nullptr;
}

Result<void> TarReader::on_header(const char* blk, uint64_t at) {
  if (!pending_meta_) {
    header_pos_ = at;
    have_path_ = false;
  }
  if (tar::is_zero_block(blk)) {
    if (pending_meta_)
      return std::unexpected(
          error(Errc::corrupt, "end-of-archive marker right after an extension header"));
    state_ = State::after_zero;
    return {};
  }
  if (!tar::checksum_ok(blk))
    return std::unexpected(error(
        Errc::corrupt,
        str_cat("header checksum mismatch in the block at offset ", at, " (corrupt or not tar)")));
  char type = blk[tar::kTypeflag];
  std::optional<int64_t> size = tar::parse_numeric(tar::field(blk, tar::kSize));
  if (!size) return std::unexpected(error(Errc::corrupt, "invalid size field"));
  if (*size < 0 || *size > kMaxSize)
    return std::unexpected(error(Errc::corrupt, str_cat("size ", *size, " is out of range")));
  auto usize = static_cast<uint64_t>(*size);
  switch (type) {
    case 'x':
    case 'g':
    case 'L':
    case 'K': {
      bool pax_type = type == 'x' || type == 'g';
      size_t limit = pax_type ? limits_.max_pax_header : limits_.max_long_name;
      if (usize > limit)
        return std::unexpected(
            error(Errc::too_large, str_cat(pax_type ? "PAX extended header" : "GNU long name",
                                           " of ", usize, " bytes exceeds the limit of ", limit)));
      meta_type_ = type;
      meta_.clear();
      remaining_ = usize;
      padding_ = block_padding(usize);
      if (type != 'g') pending_meta_ = true;
      state_ = State::meta;
      if (remaining_ == 0) return on_meta_done();
      return {};
    }
    case 'V':  // a volume label: not a member
      entry_.clear();
      discard_ = true;
      sparse_ = false;
      in_entry_ = false;
      remaining_ = usize;
      padding_ = block_padding(usize);
      state_ = State::data;
      if (remaining_ == 0) return end_data();
      return {};
    case 'N':
      return std::unexpected(
          error(Errc::not_implemented, "old GNU long-name entries ('N') are not supported"));
    case 'M':
      return std::unexpected(
          error(Errc::not_implemented, "multi-volume continuation entries are not supported"));
    default: return build_entry(blk, type, usize);
  }
}

Result<void> TarReader::on_meta_done() {
  state_ = padding_ ? State::padding : State::header;
  switch (meta_type_) {
    case 'L':
    case 'K': {
      std::string& dst = meta_type_ == 'L' ? long_name_ : long_link_;
      size_t nul = meta_.find('\0');
      dst.assign(meta_, 0, nul == std::string::npos ? meta_.size() : nul);
      (meta_type_ == 'L' ? has_long_name_ : has_long_link_) = true;
      return {};
    }
    case 'x': return parse_pax(meta_, false);
    case 'g': return parse_pax(meta_, true);
  }
  return {};
}

Result<void> TarReader::parse_pax(std::string_view data, bool global) {
  while (!data.empty()) {
    auto rec = pax::next_record(data);
    if (!rec) return std::unexpected(error(Errc::corrupt, rec.error().message));
    auto [key, value] = *rec;
    if (!global && (key == "GNU.sparse.offset" || key == "GNU.sparse.numbytes")) {
      // PAX sparse 0.0 repeats these two keys, so they are kept in order.
      std::optional<uint64_t> v = pax::parse_uint(value);
      bool want_offset = pax_sparse_pairs_.size() % 2 == 0;
      if (!v || want_offset != (key == "GNU.sparse.offset"))
        return std::unexpected(
            error(Errc::corrupt, "malformed GNU.sparse.offset/numbytes records"));
      if (pax_sparse_pairs_.size() / 2 >= limits_.max_sparse_segments)
        return std::unexpected(error(Errc::too_large, "too many sparse segments"));
      pax_sparse_pairs_.push_back(*v);
      continue;
    }
    if (!global) {
      pax_local_.push_back({std::string(key), std::string(value)});
      continue;
    }
    auto it = pax_global_.begin();
    while (it != pax_global_.end() && it->key != key) ++it;
    if (value.empty()) {
      if (it != pax_global_.end()) pax_global_.erase(it);
    } else if (it != pax_global_.end()) {
      it->value.assign(value);
    } else {
      pax_global_.push_back({std::string(key), std::string(value)});
    }
  }
  return {};
}

Result<void> TarReader::build_entry(const char* blk, char type, uint64_t header_size) {
  entry_.clear();
  discard_ = false;
  sparse_ = false;
  bool old_sparse = false;
  switch (type) {
    case '0':
    case '\0':
    case '7': entry_.type = EntryType::regular; break;
    case 'S':
      entry_.type = EntryType::regular;
      old_sparse = true;
      break;
    case '1': entry_.type = EntryType::hardlink; break;
    case '2': entry_.type = EntryType::symlink; break;
    case '3': entry_.type = EntryType::char_device; break;
    case '4': entry_.type = EntryType::block_device; break;
    case '5': entry_.type = EntryType::directory; break;
    case 'D':  // GNU dumpdir: a directory whose content lists its names
      entry_.type = EntryType::directory;
      discard_ = true;
      break;
    case '6': entry_.type = EntryType::fifo; break;
    default:
      return std::unexpected(
          error(Errc::not_implemented, str_cat("unsupported entry type ", describe_type(type))));
  }
  tar::Dialect dialect = tar::dialect(blk);

  // The path: PAX, then a GNU long name, then the header (with its prefix).
  if (const std::string* p = pax("GNU.sparse.name")) {
    entry_.raw_path = *p;
  } else if (const std::string* p = pax("path")) {
    entry_.raw_path = *p;
  } else if (has_long_name_) {
    entry_.raw_path = long_name_;
  } else {
    std::string_view name = tar::field_string(blk, tar::kName);
    std::string_view prefix;
    if (dialect == tar::Dialect::ustar) prefix = tar::field_string(blk, tar::kPrefix);
    if (dialect == tar::Dialect::star) prefix = tar::field_string(blk, tar::kStarPrefix);
    entry_.raw_path.assign(prefix);
    if (!prefix.empty()) entry_.raw_path.push_back('/');
    entry_.raw_path.append(name);
  }
  if (entry_.raw_path.find('\0') != std::string::npos)
    return std::unexpected(error(Errc::corrupt, "path contains a NUL byte"));
  if (!normalize_path(entry_.raw_path, entry_.path))
    return std::unexpected(error(Errc::corrupt, "empty path"));
  have_path_ = true;
  if (type == '\0' && entry_.raw_path.ends_with('/')) entry_.type = EntryType::directory;

  auto number = [&](tar::Field f) { return tar::parse_numeric(tar::field(blk, f)); };
  auto bad = [&](const char* what) {
    return std::unexpected(error(Errc::corrupt, str_cat("invalid ", what, " field")));
  };
  auto mode = number(tar::kMode);
  if (!mode) return bad("mode");
  entry_.mode = static_cast<uint32_t>(*mode & 07777);
  auto uid = number(tar::kUid);
  if (!uid || *uid < 0 || *uid > UINT32_MAX) return bad("uid");
  entry_.uid = static_cast<uint32_t>(*uid);
  auto gid = number(tar::kGid);
  if (!gid || *gid < 0 || *gid > UINT32_MAX) return bad("gid");
  entry_.gid = static_cast<uint32_t>(*gid);
  auto mtime = number(tar::kMtime);
  if (!mtime) return bad("mtime");
  entry_.mtime.sec = *mtime;
  if (dialect != tar::Dialect::v7) {
    entry_.uname.assign(tar::field_string(blk, tar::kUname));
    entry_.gname.assign(tar::field_string(blk, tar::kGname));
  }
  if (entry_.type == EntryType::char_device || entry_.type == EntryType::block_device) {
    auto major = number(tar::kDevmajor);
    if (!major || *major < 0 || *major > UINT32_MAX) return bad("devmajor");
    auto minor = number(tar::kDevminor);
    if (!minor || *minor < 0 || *minor > UINT32_MAX) return bad("devminor");
    entry_.devmajor = static_cast<uint32_t>(*major);
    entry_.devminor = static_cast<uint32_t>(*minor);
  }
  if (entry_.type == EntryType::hardlink || entry_.type == EntryType::symlink) {
    std::string_view link;
    if (const std::string* p = pax("linkpath"))
      link = *p;
    else if (has_long_link_)
      link = long_link_;
    else
      link = tar::field_string(blk, tar::kLinkname);
    if (link.find('\0') != std::string_view::npos)
      return std::unexpected(error(Errc::corrupt, "link target contains a NUL byte"));
    if (entry_.type == EntryType::symlink) {
      entry_.link_target.assign(link);
    } else if (!normalize_path(link, entry_.link_target)) {
      return std::unexpected(error(Errc::corrupt, "hard link with an empty target"));
    }
  }

  uint64_t data_size = header_size;
  if (!pax_local_.empty() || !pax_global_.empty()) BERTH_TRY(apply_pax(data_size));

  bool header_only = entry_.type != EntryType::regular && !discard_;
  remaining_ = header_only ? 0 : data_size;
  padding_ = block_padding(remaining_);
  entry_.size = header_only || discard_ ? 0 : data_size;
  Result<void> r;
  if (old_sparse) {
    r = setup_gnu_sparse(blk);
  } else if (sparse_ && entry_.type == EntryType::regular) {
    r = setup_pax_sparse();
  } else {
    sparse_ = false;
    r = start_data();
  }
  // Extension headers are used up by this member.
  pending_meta_ = false;
  has_long_name_ = has_long_link_ = false;
  pax_local_.clear();
  pax_sparse_pairs_.clear();
  return r;
}

Result<void> TarReader::apply_pax(uint64_t& data_size) {
  auto bad = [&](std::string_view key, std::string_view v) {
    return std::unexpected(
        error(Errc::corrupt, str_cat("invalid PAX ", key, " \"", v.substr(0, 64), '"')));
  };
  auto id = [&](const char* key, uint32_t& out) -> Result<void> {
    if (const std::string* v = pax(key)) {
      std::optional<uint64_t> n = pax::parse_uint(*v);
      if (!n || *n > UINT32_MAX) return bad(key, *v);
      out = static_cast<uint32_t>(*n);
    }
    return {};
  };
  BERTH_TRY(id("uid", entry_.uid));
  BERTH_TRY(id("gid", entry_.gid));
  if (entry_.type == EntryType::char_device || entry_.type == EntryType::block_device) {
    BERTH_TRY(id("SCHILY.devmajor", entry_.devmajor));
    BERTH_TRY(id("SCHILY.devminor", entry_.devminor));
  }
  if (const std::string* v = pax("uname")) entry_.uname = *v;
  if (const std::string* v = pax("gname")) entry_.gname = *v;
  auto time = [&](const char* key) -> Result<std::optional<Timestamp>> {
    const std::string* v = pax(key);
    if (!v) return std::nullopt;
    std::optional<Timestamp> t = pax::parse_time(*v);
    if (!t) return bad(key, *v);
    return t;
  };
  if (auto t = BERTH_TRY(time("mtime"))) entry_.mtime = *t;
  entry_.atime = BERTH_TRY(time("atime"));
  entry_.ctime = BERTH_TRY(time("ctime"));
  if (const std::string* v = pax("size")) {
    std::optional<uint64_t> n = pax::parse_uint(*v);
    if (!n || *n > static_cast<uint64_t>(kMaxSize)) return bad("size", *v);
    data_size = *n;
  }

  auto add_xattr = [&](std::string name, std::string value) {
    for (Xattr& x : entry_.xattrs)
      if (x.name == name) {
        x.value = std::move(value);
        return;
      }
    entry_.xattrs.push_back({std::move(name), std::move(value)});
  };
  auto scan = [&](const std::vector<Record>& records, bool local) -> Result<void> {
    for (const Record& r : records) {
      std::string_view key = r.key;
      if (key.starts_with(pax::kSchilyXattr) && key.size() > pax::kSchilyXattr.size()) {
        add_xattr(std::string(key.substr(pax::kSchilyXattr.size())), r.value);
      } else if (key.starts_with(pax::kLibarchiveXattr)) {
        auto name = pax::percent_decode(key.substr(pax::kLibarchiveXattr.size()));
        auto value = pax::base64_decode(r.value);
        if (!name || name->empty() || !value) return bad(key, r.value);
        add_xattr(std::move(*name), std::move(*value));
      } else if (local && key.starts_with("GNU.sparse.")) {
        sparse_ = true;
      }
    }
    return {};
  };
  BERTH_TRY(scan(pax_global_, false));
  BERTH_TRY(scan(pax_local_, true));
  if (!pax_sparse_pairs_.empty()) sparse_ = true;
  return {};
}

}  // namespace berth::layers::archive
