// Pull: an image from a registry into the image service, every layer
// streamed from its socket through decompression, hashing and extraction in
// one pass (io/ reads, a pool thread unpacks, an InboundChannel between
// them), several layers at once. Nothing is registered until every layer is
// in and verified; layers that finished before a failure stay (complete and
// verified, unreferenced) so the next try skips them, until gc.
//
// Also: resolving a reference to its manifest (GET /distribution) and
// checking credentials (POST /auth). Coroutines on the caller's reactor.
#pragma once

#include <string>
#include <vector>

#include "io/task.h"
#include "layers/image/oci.h"
#include "layers/image/reference.h"
#include "layers/image/service.h"
#include "layers/registry/client.h"
#include "layers/registry/progress.h"

namespace berth::layers::registry {

struct PullOptions {
  image::Reference ref;  // normalized, with a tag or a digest
  std::string platform;  // "os/arch[/variant]"; "" for the host's
  Credentials creds;
  unsigned parallel = 3;  // layers downloaded at once
};

struct PullResult {
  std::string image_id;
  std::string manifest_digest;  // what the reference resolved to
  bool updated = false;         // false: the tag already named this image
};

io::Task<Result<PullResult>> pull(image::ImageService* svc, Registries* regs, PullOptions opts,
                                  ProgressSink* sink);

struct ResolvedManifest {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::vector<image::Platform> platforms;
};
io::Task<Result<ResolvedManifest>> resolve(Registries* regs, image::Reference ref,
                                           Credentials creds);

// Checks credentials against a registry's /v2/ (docker login).
io::Task<Result<void>> login(Registries* regs, std::string registry, Credentials creds);

// "linux/amd64" and the like for this host.
std::string host_platform();

}  // namespace berth::layers::registry
