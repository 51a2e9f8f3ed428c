// Image references, normalized as docker normalizes them:
//   busybox              -> docker.io/library/busybox:latest
//   user/app:1.0         -> docker.io/user/app:1.0
//   localhost:5000/x@sha256:... -> localhost:5000/x@sha256:...
// and their short ("familiar") form for display: busybox:latest, user/app:1.0.
// Grammar from the distribution reference package: lowercase path
// components separated by [._]|__|-+, a domain when the first component has
// '.' or ':' or is "localhost", tags [\w][\w.-]{0,127}, sha256 digests.
// Plain values; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace berth::layers::image {

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // "" when a digest-only reference
  std::string digest;  // "sha256:..." or ""

  // docker.io/library/busybox
  std::string repository() const { return domain + "/" + path; }
  // docker.io/library/busybox:latest or ...@sha256:...
  std::string str() const;
  // busybox:latest, user/app:1.0, localhost:5000/x:y
  std::string familiar() const;
  std::string familiar_repository() const;
  bool has_tag() const { return !tag.empty(); }
  bool has_digest() const { return !digest.empty(); }
};

// Parses and normalizes; adds ":latest" when neither tag nor digest is given
// and default_tag is true. Errors use docker's wording ("invalid reference
// format", "invalid reference format: repository name must be lowercase").
Result<Reference> parse_reference(std::string_view s, bool default_tag = true);

// True when s is a full or short (>= 12 hex) image ID, optionally "sha256:"
// prefixed — as docker accepts IDs wherever names go.
bool looks_like_id(std::string_view s);

bool valid_tag(std::string_view tag);
bool valid_digest(std::string_view digest);  // sha256:<64 lowercase hex>

}  // namespace berth::layers::image
