// BERTH_TRY_VOID: BERTH_TRY for Result<void> expressions, which BERTH_TRY
// cannot take (it yields the value, and void has none). Returns the error
// from the enclosing function. Belongs in core/base/error.h; kept here, under
// a guard, until it moves there.
#pragma once

#include <utility>

#include "core/base/error.h"

#ifndef BERTH_TRY_VOID
#define BERTH_TRY_VOID(expr)                                   \
  do {                                                         \
    auto&& berth_try_v_ = (expr);                              \
    if (!berth_try_v_) [[unlikely]]                            \
      return std::unexpected(std::move(berth_try_v_.error())); \
  } while (0)
#endif
