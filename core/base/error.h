// Error and Result: the one error type of berth.
//
// An Error carries a portable code (what kind of failure, which the API maps to
// an HTTP status), the errno that caused it (0 if none) and a human message
// that grows context as it travels up ("load image: layer 2: open x: ENOENT").
// Result<T> is std::expected<T, Error>. errno becomes an Error only through
// sys_error(). Plain value types: thread-compatible, no shared state.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace berth {

enum class Errc {
  invalid_argument,  // the caller asked for something malformed (400)
  not_found,         // no such object (404)
  conflict,          // name in use, object busy, wrong state (409)
  forbidden,         // not allowed for this object (403)
  unauthorized,      // credentials missing or refused (401)
  not_modified,      // already in the requested state (304)
  too_large,         // a size limit was exceeded (413)
  not_implemented,   // not built yet (501)
  unavailable,       // a peer or resource is not reachable now (503)
  timeout,           // a deadline passed
  cancelled,         // stopped on request (shutdown, client went away)
  corrupt,           // data failed verification (digest mismatch, bad archive)
  io,                // the system refused an operation (errno says why)
  internal,          // a bug or an impossible state (500)
};

std::string_view errc_name(Errc c);

struct Error {
  Errc code = Errc::internal;
  int sys_errno = 0;
  std::string message;

  // Prefixes "what: " to the message; returns *this for chaining.
  Error& context(std::string_view what) &;
  Error&& context(std::string_view what) &&;
};

template <class T>
using Result = std::expected<T, Error>;

// The unexpected value to return from a function producing Result<T>.
inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected(Error{code, 0, std::move(message)});
}

// "what: strerror(err)", coded from err (ENOENT -> not_found, EEXIST -> conflict...).
std::unexpected<Error> sys_fail(int err, std::string_view what);
Error sys_error(int err, std::string_view what);

// Adds context to the error of a failed Result, passing a success through.
template <class T>
Result<T> with_context(Result<T>&& r, std::string_view what) {
  if (!r) r.error().context(what);
  return std::move(r);
}

namespace detail {
template <class T>
T take_value(std::expected<T, Error>&& r) {
  return std::move(*r);
}
inline void take_value(std::expected<void, Error>&&) {}
}  // namespace detail

}  // namespace berth

// Evaluates a Result expression; on failure returns its Error from the
// enclosing function, else yields the value (nothing for Result<void>) — a
// GNU statement expression.
#define BERTH_TRY(expr)                                        \
  ({                                                           \
    auto&& berth_try_r_ = (expr);                              \
    if (!berth_try_r_) [[unlikely]]                            \
      return std::unexpected(std::move(berth_try_r_.error())); \
    ::berth::detail::take_value(std::move(berth_try_r_));      \
  })

// The same inside a coroutine returning Task<Result<T>>.
#define BERTH_CO_TRY(expr)                                        \
  ({                                                              \
    auto&& berth_try_r_ = (expr);                                 \
    if (!berth_try_r_) [[unlikely]]                               \
      co_return std::unexpected(std::move(berth_try_r_.error())); \
    ::berth::detail::take_value(std::move(berth_try_r_));         \
  })
