#include "core/base/error.h"

#include <cstring>

namespace berth {

std::string_view errc_name(Errc c) {
  switch (c) {
    case Errc::invalid_argument: return "invalid argument";
    case Errc::not_found: return "not found";
    case Errc::conflict: return "conflict";
    case Errc::forbidden: return "forbidden";
    case Errc::unauthorized: return "unauthorized";
    case Errc::not_modified: return "not modified";
    case Errc::too_large: return "too large";
    case Errc::not_implemented: return "not implemented";
    case Errc::unavailable: return "unavailable";
    case Errc::timeout: return "timeout";
    case Errc::cancelled: return "cancelled";
    case Errc::corrupt: return "corrupt";
    case Errc::io: return "i/o error";
    case Errc::internal: return "internal error";
  }
  return "unknown";
}

Error& Error::context(std::string_view what) & {
  std::string m;
  m.reserve(what.size() + 2 + message.size());
  m.append(what).append(": ").append(message);
  message = std::move(m);
  return *this;
}

Error&& Error::context(std::string_view what) && {
  context(what);
  return std::move(*this);
}

static Errc errc_from_errno(int err) {
  switch (err) {
    case ENOENT:
    case ESRCH: return Errc::not_found;
    case EEXIST:
    case EBUSY:
    case ENOTEMPTY: return Errc::conflict;
    case EPERM:
    case EACCES: return Errc::forbidden;
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
    case EXDEV: return Errc::invalid_argument;
    case EFBIG:
    case E2BIG:
    case EMSGSIZE: return Errc::too_large;
    case ETIMEDOUT:
    case ETIME: return Errc::timeout;
    case ECANCELED: return Errc::cancelled;
    case ENOSYS:
    case EOPNOTSUPP: return Errc::not_implemented;
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ECONNRESET: return Errc::unavailable;
    default: return Errc::io;
  }
}

Error sys_error(int err, std::string_view what) {
  std::string m(what);
  m.append(": ").append(std::strerror(err));
  return Error{errc_from_errno(err), err, std::move(m)};
}

std::unexpected<Error> sys_fail(int err, std::string_view what) {
  return std::unexpected(sys_error(err, what));
}

}  // namespace berth
