// The compiled seccomp programs a daemon has needed, so a container start
// looks its filter up (a lock and a hash lookup, well under a microsecond)
// instead of compiling it (milliseconds).
//
// A program depends on the profile and on the container's bounding set, but
// only on the capabilities the profile's rules name (for docker's default
// profile, 14 of them), so the key is (profile, bounding & those). Docker's
// default profile is always kept; at most max_profiles custom profiles are,
// the oldest forgotten first. Programs are shared: a caller keeps its
// shared_ptr across the spawn, and forgetting does not free it under it.
//
// Which profile a container gets is docker's choice (daemon WithSeccomp):
// "unconfined" or a privileged container: none; "" or "builtin": the
// default; anything else is a profile's JSON text (what `--security-opt
// seccomp=FILE` sends).
//
// Thread-safe: one mutex, held for lookups and inserts only, never while
// compiling (two threads missing together may both compile; one result
// wins).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/base/error.h"
#include "core/runtime/seccomp.h"

namespace berth::core::runtime {

class SeccompCache {
 public:
  explicit SeccompCache(SeccompTarget target = SeccompTarget::host(), size_t max_profiles = 32);
  SeccompCache(const SeccompCache&) = delete;
  SeccompCache& operator=(const SeccompCache&) = delete;

  // The program for a container (see the header comment for profile).
  Result<std::shared_ptr<const SeccompProgram>> get(std::string_view profile, CapMask bounding,
                                                    bool privileged = false);

  // Number of programs compiled so far (misses), for tests and /info.
  uint64_t compiled() const;

  // The process-wide cache.
  static SeccompCache& shared();

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Entry {
    std::shared_ptr<const SeccompProfile> profile;
    std::unordered_map<CapMask, std::shared_ptr<const SeccompProgram>> programs;
  };

  Result<std::shared_ptr<const SeccompProgram>> get_from(Entry& entry, std::string_view key,
                                                         CapMask bounding);

  const SeccompTarget target_;
  const size_t max_profiles_;
  mutable std::mutex mu_;
  Entry default_;
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> custom_;
  std::deque<std::string> custom_order_;  // oldest first
  uint64_t compiled_ = 0;
};

}  // namespace berth::core::runtime
