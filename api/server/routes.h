// The whole Docker Engine API v1.44 route table. Every endpoint of the spec
// is registered; the ones berth has not built answer 501 with a message that
// names the endpoint, so a client learns exactly what is missing.
#pragma once

#include "api/server/router.h"

namespace berth::api {

// Registers a 501 handler for every endpoint of the v1.44 spec; handlers
// added afterwards replace them.
void add_unimplemented_routes(Router& r);

}  // namespace berth::api
