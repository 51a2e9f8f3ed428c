// OCI whiteouts: the names in a layer tar that mark deletions rather than
// files (image-spec layer.md). ".wh.NAME" deletes NAME from the layers below;
// ".wh..wh..opq" in a directory hides everything the layers below had in it.
// Only the last path component counts. A bare ".wh." names nothing and is
// invalid (the spec says implementations should reject it).
//
// Pure functions on string views; thread-safe. Returned views point into the
// argument.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace berth::layers::archive {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";

enum class WhiteoutKind : unsigned char {
  none,     // an ordinary name
  file,     // ".wh.NAME": delete NAME
  opaque,   // ".wh..wh..opq": hide the lower contents of the directory
  invalid,  // ".wh." with nothing after it
};

// The last component of path ("a/b" -> "b", "a" -> "a", "a/" -> "").
std::string_view base_name(std::string_view path);
// Everything before the last component, without the "/" ("a/b" -> "a", "a" -> "").
std::string_view dir_name(std::string_view path);

WhiteoutKind whiteout_kind(std::string_view path);
// True for ".wh.NAME" (not for the opaque marker, not for a bare ".wh.").
bool is_whiteout(std::string_view path);
// True when the last component is ".wh..wh..opq".
bool is_opaque(std::string_view path);
// For "dir/.wh.NAME": "dir/NAME" (the path to delete); nullopt when path is
// not a file whiteout.
std::optional<std::string> whiteout_target(std::string_view path);
// For "dir/.wh.NAME": "NAME"; empty when path is not a file whiteout.
std::string_view whiteout_target_name(std::string_view path);

}  // namespace berth::layers::archive
