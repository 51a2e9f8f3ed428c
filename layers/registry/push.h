// Push: a local image to a registry — its layers' compressed blobs (gzip
// made now, in parallel, for layers stored plain; kept for the next push),
// its config and a manifest (Docker v2 schema 2, or OCI when a layer is
// zstd), written deterministically so pushing the same image again yields
// the same digest. Blobs the registry has already are skipped (HEAD);
// small ones go up in one PUT, large ones streamed in a PATCH, then PUT.
// A coroutine on the caller's reactor; files are read on the pool.
#pragma once

#include <string>

#include "io/task.h"
#include "layers/image/reference.h"
#include "layers/image/service.h"
#include "layers/registry/client.h"
#include "layers/registry/progress.h"

namespace berth::layers::registry {

struct PushOptions {
  image::Reference ref;  // with a tag
  Credentials creds;
  unsigned parallel = 5;  // layers uploaded at once (docker's default)
};

struct PushResult {
  std::string digest;  // of the manifest
  int64_t size = 0;    // of the manifest
};

io::Task<Result<PushResult>> push(image::ImageService* svc, Registries* regs, PushOptions opts,
                                  ProgressSink* sink);

}  // namespace berth::layers::registry
