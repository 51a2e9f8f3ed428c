// Progress of a pull or push, as docker reports it: per-layer status lines
// ("Pulling fs layer", "Downloading 1.2MB/3.4MB", "Pull complete") and
// messages for the whole operation. The API turns them into docker's JSON
// progress stream; tests collect them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace berth::layers::registry {

struct ProgressEvent {
  std::string id;      // a layer's short ID, a tag, or "" for the whole operation
  std::string status;  // "Downloading", "Pull complete", "Digest: sha256:..."
  int64_t current = -1;
  int64_t total = -1;
  // push only: the final {"aux":{"Tag","Digest","Size"}} record
  std::optional<std::string> aux_tag;
  std::string aux_digest;
  int64_t aux_size = 0;
};

// Called on the reactor that runs the pull or push; must not block.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void emit(const ProgressEvent& e) = 0;
};

// The first 12 hex digits of a digest, as docker names layers in progress.
inline std::string short_digest(const std::string& d) {
  auto hex = d.starts_with("sha256:") ? d.substr(7) : d;
  return hex.substr(0, 12);
}

}  // namespace berth::layers::registry
