#include "layers/archive/entry.h"

namespace berth::layers::archive {

std::string_view entry_type_name(EntryType t) {
  switch (t) {
    case EntryType::regular: return "regular file";
    case EntryType::hardlink: return "hard link";
    case EntryType::symlink: return "symlink";
    case EntryType::char_device: return "character device";
    case EntryType::block_device: return "block device";
    case EntryType::directory: return "directory";
    case EntryType::fifo: return "fifo";
  }
  return "unknown";
}

void Entry::clear() {
  path.clear();
  raw_path.clear();
  link_target.clear();
  type = EntryType::regular;
  mode = 0;
  uid = gid = 0;
  uname.clear();
  gname.clear();
  size = 0;
  mtime = {};
  atime.reset();
  ctime.reset();
  devmajor = devminor = 0;
  xattrs.clear();
  sparse = false;
}

bool normalize_path(std::string_view in, std::string& out) {
  out.clear();
  bool saw_component = false;
  size_t i = 0;
  while (i < in.size()) {
    size_t j = in.find('/', i);
    if (j == std::string_view::npos) j = in.size();
    std::string_view part = in.substr(i, j - i);
    i = j + 1;
    if (part.empty() && j < in.size()) {
      saw_component = true;  // a "/" (leading, doubled or trailing)
      continue;
    }
    if (part.empty()) continue;
    saw_component = true;
    if (part == ".") continue;
    if (!out.empty()) out.push_back('/');
    out.append(part);
  }
  if (out.empty()) {
    if (!saw_component) return false;
    out.push_back('.');
  }
  return true;
}

}  // namespace berth::layers::archive
