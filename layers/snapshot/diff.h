// diff: a container's upper directory turned back into a layer archive, and
// a whole directory tree into an archive (export).
//
// write_diff walks the upper directory in byte order (parents first) and
// writes each entry with the TarWriter (Go's PAX conventions, whole-second
// mtimes — docker's choices), converting overlay whiteouts to OCI form: a
// 0/0 character device NAME becomes an empty regular file ".wh.NAME"; a
// directory marked trusted.overlay.opaque=y is followed by ".wh..wh..opq".
// Hardlinked files after the first become hardlink entries; xattrs other
// than trusted.overlay.* are kept. The same tree gives the same bytes.
//
// Blocking (file system); thread-safe (no shared state).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace berth::layers::snapshot {

using TarOutput = std::function<Result<void>(std::string_view)>;

struct TreeOptions {
  bool overlay_whiteouts = true;  // convert overlay whiteouts to OCI form
};

// Writes the tree under dir (not dir itself) as a tar stream to out.
Result<void> write_tree(const std::string& dir, const TarOutput& out, const TreeOptions& opts);

// A container's changes: write_tree over its upper directory.
inline Result<void> write_diff(const std::string& upper_dir, const TarOutput& out) {
  return write_tree(upper_dir, out, TreeOptions{.overlay_whiteouts = true});
}

}  // namespace berth::layers::snapshot
