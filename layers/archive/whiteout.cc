#include "layers/archive/whiteout.h"

namespace berth::layers::archive {

std::string_view base_name(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view dir_name(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

WhiteoutKind whiteout_kind(std::string_view path) {
  std::string_view base = base_name(path);
  if (!base.starts_with(kWhiteoutPrefix)) return WhiteoutKind::none;
  if (base == kOpaqueWhiteout) return WhiteoutKind::opaque;
  if (base.size() == kWhiteoutPrefix.size()) return WhiteoutKind::invalid;
  return WhiteoutKind::file;
}

bool is_whiteout(std::string_view path) {
  return whiteout_kind(path) == WhiteoutKind::file;
}

bool is_opaque(std::string_view path) {
  return whiteout_kind(path) == WhiteoutKind::opaque;
}

std::string_view whiteout_target_name(std::string_view path) {
  if (!is_whiteout(path)) return {};
  return base_name(path).substr(kWhiteoutPrefix.size());
}

std::optional<std::string> whiteout_target(std::string_view path) {
  if (!is_whiteout(path)) return std::nullopt;
  std::string out(path.substr(0, path.size() - base_name(path).size()));
  out.append(whiteout_target_name(path));
  return out;
}

}  // namespace berth::layers::archive
