// The JSON writer lives in core/base/json (layers/ writes manifests with it
// too); api code names it api::json as before.
#pragma once

#include "core/base/json/writer.h"

namespace berth::api {
namespace json = berth::json;
}  // namespace berth::api
