#include "layers/archive/tar_writer.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/base/strings.h"
#include "layers/archive/pax.h"
#include "layers/archive/tar_format.h"

namespace berth::layers::archive {

namespace {

constexpr char kZeros[2 * tar::kBlockSize] = {};

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (c == '\0' || static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// Go's toASCII: drops every byte that is not ASCII (or is NUL).
std::string to_ascii(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '\0' && static_cast<unsigned char>(c) < 0x80) out.push_back(c);
  return out;
}

// Go's formatString: copies what fits, NUL-terminates when there is room,
// and does not leave a truncated name ending in "/" (readers would take a
// file for a directory).
void put_string(char* blk, tar::Field f, std::string_view s) {
  std::memcpy(blk + f.off, s.data(), std::min(s.size(), f.len));
  if (s.size() < f.len) blk[f.off + s.size()] = '\0';
  if (s.size() > f.len && blk[f.off + f.len - 1] == '/') {
    std::string_view head = s.substr(0, f.len - 1);
    while (!head.empty() && head.back() == '/') head.remove_suffix(1);
    blk[f.off + head.size()] = '\0';
  }
}

// Go's formatOctal: 0 when the value does not fit (a PAX record holds it).
void put_octal(char* blk, tar::Field f, int64_t v) {
  tar::format_octal(blk + f.off, f.len, tar::fits_octal(f.len, v) ? static_cast<uint64_t>(v) : 0);
}

// Go's path.Clean, for naming PAX headers exactly as Go does.
std::string go_clean(std::string_view p) {
  if (p.empty()) return ".";
  bool rooted = p[0] == '/';
  std::string out;
  size_t r = 0, dotdot = 0;
  if (rooted) {
    out.push_back('/');
    r = dotdot = 1;
  }
  while (r < p.size()) {
    if (p[r] == '/') {
      ++r;
    } else if (p[r] == '.' && (r + 1 == p.size() || p[r + 1] == '/')) {
      ++r;
    } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == p.size() || p[r + 2] == '/')) {
      r += 2;
      if (out.size() > dotdot) {
        size_t w = out.size() - 1;
        while (w > dotdot && out[w] != '/') --w;
        out.resize(w);
      } else if (!rooted) {
        if (!out.empty()) out.push_back('/');
        out.append("..");
        dotdot = out.size();
      }
    } else {
      if ((rooted && out.size() != 1) || (!rooted && !out.empty())) out.push_back('/');
      for (; r < p.size() && p[r] != '/'; ++r) out.push_back(p[r]);
    }
  }
  if (out.empty()) return ".";
  return out;
}

// path.Join(dir, "PaxHeaders.0", file) after path.Split(name).
std::string pax_header_name(std::string_view name) {
  size_t slash = name.rfind('/');
  std::string_view dir = slash == std::string_view::npos ? "" : name.substr(0, slash + 1);
  std::string_view file = slash == std::string_view::npos ? name : name.substr(slash + 1);
  std::string joined;
  if (!dir.empty()) str_append(joined, dir, '/');
  joined.append("PaxHeaders.0");
  if (!file.empty()) str_append(joined, '/', file);
  std::string out = to_ascii(go_clean(joined));
  if (out.size() > tar::kName.len) out.resize(tar::kName.len);
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

// Go's splitUSTARPath: a name longer than 100 bytes fits ustar when it is
// ASCII and splits at a '/' into a prefix of at most 155 bytes and a name of
// 1 to 100 bytes (a directory's trailing '/' is not a split point).
bool split_ustar(std::string_view name, std::string_view& prefix, std::string_view& rest) {
  size_t length = name.size();
  if (length <= tar::kName.len || !is_ascii(name)) return false;
  if (length > tar::kPrefix.len + 1)
    length = tar::kPrefix.len + 1;
  else if (name[length - 1] == '/')
    --length;
  size_t i = name.substr(0, length).rfind('/');
  if (i == std::string_view::npos || i == 0) return false;
  size_t nlen = name.size() - i - 1;
  if (nlen > tar::kName.len || nlen == 0 || i > tar::kPrefix.len) return false;
  prefix = name.substr(0, i);
  rest = name.substr(i + 1);
  return true;
}

void set_ustar_magic(char* blk) {
  std::memcpy(blk + tar::kMagic.off, "ustar\0", 6);
  std::memcpy(blk + tar::kVersion.off, "00", 2);
}

uint32_t block_padding(uint64_t n) {
  return static_cast<uint32_t>((tar::kBlockSize - n % tar::kBlockSize) % tar::kBlockSize);
}

char typeflag(EntryType t) {
  switch (t) {
    case EntryType::regular: return '0';
    case EntryType::hardlink: return '1';
    case EntryType::symlink: return '2';
    case EntryType::char_device: return '3';
    case EntryType::block_device: return '4';
    case EntryType::directory: return '5';
    case EntryType::fifo: return '6';
  }
  return '0';
}

uint32_t type_bits(EntryType t) {
  switch (t) {
    case EntryType::regular:
    case EntryType::hardlink: return 0100000;
    case EntryType::symlink: return 0120000;
    case EntryType::char_device: return 020000;
    case EntryType::block_device: return 060000;
    case EntryType::directory: return 040000;
    case EntryType::fifo: return 010000;
  }
  return 0;
}

}  // namespace

TarWriter::TarWriter(Output out, TarWriterOptions options)
    : out_(std::move(out)), options_(options) {}

Result<void> TarWriter::emit(std::string_view bytes) {
  BERTH_TRY(out_(bytes));
  written_ += bytes.size();
  return {};
}

Result<void> TarWriter::add(const Entry& entry) {
  return add_header(entry, entry.size);
}

Result<void> TarWriter::add_file(const Entry& entry, std::string_view content) {
  BERTH_TRY(add_header(entry, content.size()));
  if (entry.type != EntryType::regular) return {};
  return write_data(content);
}

Result<void> TarWriter::add_header(const Entry& e, uint64_t size) {
  auto invalid = [&](std::string_view what) {
    return fail(Errc::invalid_argument, str_cat("tar: entry \"", e.path, "\": ", what));
  };
  if (finished_) return invalid("archive already finished");
  if (remaining_ > 0)
    return fail(Errc::invalid_argument, str_cat("tar: entry \"", current_, "\": ", remaining_,
                                                " bytes of content missing"));
  if (e.path.empty()) return invalid("empty path");
  bool regular = e.type == EntryType::regular;
  bool device = e.type == EntryType::char_device || e.type == EntryType::block_device;
  bool link = e.type == EntryType::hardlink || e.type == EntryType::symlink;
  if (!regular) size = 0;
  std::string name = e.path;
  if (e.type == EntryType::directory && !name.ends_with('/')) name.push_back('/');
  if (name.find('\0') != std::string::npos || e.link_target.find('\0') != std::string::npos ||
      e.uname.find('\0') != std::string::npos || e.gname.find('\0') != std::string::npos)
    return invalid("NUL byte in a name");
  if (device && (!tar::fits_octal(8, e.devmajor) || !tar::fits_octal(8, e.devminor)))
    return invalid("device number too large for a tar header");

  // Go's allowedFormats() with Format = FormatPAX: plain ustar whenever it
  // can hold the entry and no time needs PAX; else a PAX header first.
  Timestamp mtime{e.mtime.sec, options_.subsecond_mtime ? e.mtime.nsec : 0u};
  bool ustar = true, prefer_pax = false;
  std::string_view prefix, short_name;
  std::vector<std::pair<std::string, std::string>> records;
  auto text = [&](const char* key, std::string_view v, size_t width, bool splittable) {
    if (v.size() <= width && is_ascii(v)) return;
    if (!splittable || !split_ustar(v, prefix, short_name)) ustar = false;
    records.emplace_back(key, v);
  };
  auto number = [&](const char* key, uint64_t v, size_t width) {
    if (tar::fits_octal(width, static_cast<int64_t>(v))) return;
    ustar = false;
    records.emplace_back(key, str_cat(v));
  };
  text("path", name, tar::kName.len, true);
  if (link) text("linkpath", e.link_target, tar::kLinkname.len, false);
  text("uname", e.uname, tar::kUname.len, false);
  text("gname", e.gname, tar::kGname.len, false);
  number("uid", e.uid, tar::kUid.len);
  number("gid", e.gid, tar::kGid.len);
  number("size", size, tar::kSize.len);
  bool mtime_fits = tar::fits_octal(tar::kMtime.len, mtime.sec);
  if (!mtime_fits) ustar = false;
  if (!mtime_fits || mtime.nsec) {
    prefer_pax = true;
    records.emplace_back("mtime", pax::format_time(mtime));
  }
  auto other_time = [&](const char* key, const std::optional<Timestamp>& t) {
    if (!options_.atime_ctime || !t) return;
    ustar = false;
    prefer_pax = true;
    records.emplace_back(key, pax::format_time(*t));
  };
  other_time("atime", e.atime);
  other_time("ctime", e.ctime);
  for (const Xattr& x : e.xattrs) {
    if (x.name.empty() || x.name.find('=') != std::string::npos ||
        x.name.find('\0') != std::string::npos)
      return invalid(str_cat("invalid xattr name \"", x.name, '"'));
    ustar = false;
    records.emplace_back(str_cat(pax::kSchilyXattr, x.name), x.value);
  }
  bool use_pax = !(ustar && !prefer_pax);

  char blk[tar::kBlockSize];
  if (use_pax && !records.empty()) {
    std::sort(records.begin(), records.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    pax_.clear();
    for (const auto& [k, v] : records) pax::append_record(pax_, k, v);
    std::memset(blk, 0, sizeof blk);
    put_string(blk, tar::kName, pax_header_name(name));
    put_octal(blk, tar::kMode, 0);
    put_octal(blk, tar::kUid, 0);
    put_octal(blk, tar::kGid, 0);
    put_octal(blk, tar::kSize, static_cast<int64_t>(pax_.size()));
    put_octal(blk, tar::kMtime, 0);
    blk[tar::kTypeflag] = 'x';
    set_ustar_magic(blk);
    tar::set_checksum(blk);
    BERTH_TRY(emit({blk, sizeof blk}));
    BERTH_TRY(emit(pax_));
    BERTH_TRY(emit({kZeros, block_padding(pax_.size())}));
  }

  std::memset(blk, 0, sizeof blk);
  if (use_pax) {
    put_string(blk, tar::kName, is_ascii(name) ? name : to_ascii(name));
  } else if (!prefix.empty()) {
    put_string(blk, tar::kName, short_name);
    put_string(blk, tar::kPrefix, prefix);
  } else {
    put_string(blk, tar::kName, name);
  }
  if (link) {
    put_string(blk, tar::kLinkname,
               is_ascii(e.link_target) ? e.link_target : to_ascii(e.link_target));
  }
  uint32_t mode = e.mode & 07777;
  if (options_.mode_type_bits) mode |= type_bits(e.type);
  put_octal(blk, tar::kMode, mode);
  put_octal(blk, tar::kUid, e.uid);
  put_octal(blk, tar::kGid, e.gid);
  put_octal(blk, tar::kSize, static_cast<int64_t>(size));
  put_octal(blk, tar::kMtime, mtime.sec);
  blk[tar::kTypeflag] = typeflag(e.type);
  set_ustar_magic(blk);
  put_string(blk, tar::kUname, is_ascii(e.uname) ? e.uname : to_ascii(e.uname));
  put_string(blk, tar::kGname, is_ascii(e.gname) ? e.gname : to_ascii(e.gname));
  put_octal(blk, tar::kDevmajor, device ? e.devmajor : 0);
  put_octal(blk, tar::kDevminor, device ? e.devminor : 0);
  tar::set_checksum(blk);
  BERTH_TRY(emit({blk, sizeof blk}));

  remaining_ = size;
  padding_ = block_padding(size);
  current_ = e.path;
  return {};
}

Result<void> TarWriter::write_data(std::string_view data) {
  if (data.size() > remaining_)
    return fail(Errc::invalid_argument,
                str_cat("tar: entry \"", current_, "\": ", data.size(), " bytes of content given, ",
                        remaining_, " expected"));
  if (data.empty()) return {};
  BERTH_TRY(emit(data));
  remaining_ -= data.size();
  if (remaining_ == 0 && padding_) {
    BERTH_TRY(emit({kZeros, padding_}));
    padding_ = 0;
  }
  return {};
}

Result<void> TarWriter::finish() {
  if (finished_) return {};
  if (remaining_ > 0)
    return fail(Errc::invalid_argument, str_cat("tar: entry \"", current_, "\": ", remaining_,
                                                " bytes of content missing"));
  BERTH_TRY(emit({kZeros, sizeof kZeros}));
  finished_ = true;
  return {};
}

}  // namespace berth::layers::archive
