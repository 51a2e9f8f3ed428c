// Reading a container's files (its /etc/passwd and /etc/group) from the
// layer directories its root will be made of, before anything is mounted.
//
// The layers are directories, top first (a container's upper dir, then the
// image's layers from the newest down), and the lookup follows overlayfs:
// the first layer that has a name wins; a whiteout (a 0/0 character device)
// hides the name in every lower layer; a directory marked opaque
// (trusted.overlay.opaque="y") hides the lower layers' contents of that
// directory; a non-directory hides lower directories of the same name, and a
// directory merges only with the directories right below it. Symlinks are
// followed inside the layered root (an absolute target starts again at the
// container's root, ".." stops at it), never on the host, as docker's
// FollowSymlinkInScope does; at most 40 of them.
//
// Blocking (a few stat/open calls); thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace berth::core::runtime {

// The contents of path ("etc/passwd"; relative to the container's root) in
// the layered root; nullopt when it does not exist there (or is whited out,
// or a parent is not a directory). A directory or special file at path, a
// file over max_bytes and I/O failures are errors.
Result<std::optional<std::string>> read_layered_file(std::span<const std::string> layers,
                                                     std::string_view path,
                                                     size_t max_bytes = 10 << 20);

// The container's user database, each file nullopt when absent. As docker
// does, a path that is not a regular file counts as absent.
struct UserDatabase {
  std::optional<std::string> passwd;
  std::optional<std::string> group;
};
Result<UserDatabase> read_user_database(std::span<const std::string> layers);

}  // namespace berth::core::runtime
