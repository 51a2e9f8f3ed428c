// Entry: one member of a tar archive as berth sees it, whatever tar dialect
// (ustar, GNU, PAX, star) recorded it. The reader fills one and hands it to its
// sink; the writer turns one into header blocks.
//
// Paths: `path` is normalized (no leading "/" or "./", no empty or "."
// components, no trailing "/"; the archive root is "."), but ".." components
// are kept: deciding whether a path escapes the extraction root is the
// extractor's job (it resolves every path with openat2). `raw_path` keeps the
// name exactly as the archive spelled it.
//
// Plain value type: thread-compatible. clear() keeps the capacity of the
// strings and vectors so a reader can reuse one Entry for every member.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::layers::archive {

enum class EntryType : uint8_t {
  regular,       // '0', '\0', '7'; also GNU sparse files, expanded
  hardlink,      // '1': link_target names an earlier member
  symlink,       // '2': link_target is the link's content, verbatim
  char_device,   // '3'
  block_device,  // '4'
  directory,     // '5' (and GNU 'D' dumpdirs)
  fifo,          // '6'
};

std::string_view entry_type_name(EntryType t);

struct Timestamp {
  int64_t sec = 0;
  uint32_t nsec = 0;  // 0..999'999'999, also for times before 1970
  friend bool operator==(const Timestamp&, const Timestamp&) = default;
};

struct Xattr {
  std::string name;
  std::string value;  // binary-safe
  friend bool operator==(const Xattr&, const Xattr&) = default;
};

struct Entry {
  std::string path;         // normalized, see above; never empty
  std::string raw_path;     // as recorded (PAX path, GNU long name or header)
  std::string link_target;  // hardlink: normalized like path; symlink: verbatim
  EntryType type = EntryType::regular;
  uint32_t mode = 0;  // permission bits with setuid/setgid/sticky (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string uname;
  std::string gname;
  // Bytes of content the reader delivers (a sparse file's expanded size) or
  // the writer expects. Always 0 for types other than regular.
  uint64_t size = 0;
  Timestamp mtime;
  std::optional<Timestamp> atime;  // only from PAX records
  std::optional<Timestamp> ctime;
  uint32_t devmajor = 0;  // char/block devices only
  uint32_t devminor = 0;
  std::vector<Xattr> xattrs;  // in archive order, names unique
  bool sparse = false;        // stored as a GNU sparse file (holes read as zeros)

  void clear();
};

// Normalizes an archive path into out (see above). Returns false when nothing
// is left of it but an empty string ("" or a name that is only NULs).
bool normalize_path(std::string_view in, std::string& out);

}  // namespace berth::layers::archive
