// Operations on a container's file system view outside its own namespaces:
// commit (its changes as a new image layer) and export (its whole root
// file system as a tar).
//
// Both block (file system, mounts): run on the blocking pool. export_rootfs
// mounts the container's layers read-only in a mount namespace of a thread
// of its own, so nothing appears in the host's mount table and nothing is
// left mounted whatever happens.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/container/container.h"
#include "layers/image/service.h"
#include "layers/snapshot/diff.h"

namespace berth::core::container {

Result<void> export_rootfs(const Container& c, const layers::snapshot::TarOutput& out);

struct CommitRequest {
  std::string tag;  // full reference or ""
  std::string comment, author;
  std::vector<std::string> changes;
  std::string config_json;  // a Config body given to POST /commit, or ""
  bool pause = true;
};

Result<std::string> commit_container(const std::shared_ptr<Container>& c,
                                     layers::image::ImageService& images, const CommitRequest& req);

}  // namespace berth::core::container
