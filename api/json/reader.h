// The JSON reader helpers live in core/base/json; api code names them
// api::json as before.
#pragma once

#include "core/base/json/reader.h"

namespace berth::api {
namespace json = berth::json;
}  // namespace berth::api
