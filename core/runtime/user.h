// The user a container process runs as: docker's User string ("", "name",
// "uid", "name:group", "uid:gid", "name:gid", "uid:group") resolved against
// the container's own /etc/passwd and /etc/group, plus HostConfig.GroupAdd —
// computed in the parent, applied in the spawn child with raw syscalls.
//
// Resolution follows github.com/moby/sys/user (GetExecUser,
// GetAdditionalGroups) and moby's daemon getUser:
//   - a numeric user is a uid even when passwd has no entry for it (then the
//     gid stays 0 and there are no memberships); a name must be found;
//   - "" is uid 0 (its passwd entry, when there is one, gives gid and home);
//   - with an explicit group the gid is that group's (numeric allowed when
//     absent from /etc/group) and /etc/group memberships are NOT added;
//     without one the gid is the passwd entry's and the supplementary groups
//     are the groups that list the user's name;
//   - the first matching line wins; ids must be in 0..2^31-1;
//   - the groups set with setgroups(2) are: the primary gid first (moby adds
//     it since the fix for CVE-2023-25173), then the memberships, then
//     GroupAdd (names looked up in /etc/group, numbers taken as they are);
//     duplicates are dropped (docker keeps them; the kernel does not care).
// Errors are docker's: "unable to find user nosuch: no matching entries in
// passwd file", "unable to find group staff: no matching entries in group
// file", "uids and gids must be in range 0-2147483647".
//
// Parsing: lines are trimmed; blank lines and '#' comments are skipped (in
// passwd too, as glibc does); lines without a name or without numeric ids
// are malformed and skipped (moby would read them as id 0, which could
// silently match uid 0). A missing file (nullopt) is no entries.
//
// Thread-safety: pure functions over values. apply_in_child() is
// async-signal-safe and allocates nothing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::core::runtime {

struct PasswdEntry {
  std::string name, password;
  uint32_t uid = 0, gid = 0;
  std::string gecos, home, shell;
};

struct GroupEntry {
  std::string name, password;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

std::vector<PasswdEntry> parse_passwd(std::string_view text);
std::vector<GroupEntry> parse_group(std::string_view text);

struct ExecUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // for setgroups(2), primary gid first
  std::string home = "/";     // the passwd entry's, "/" without one
};

// Resolves spec against the container's passwd and group files (their
// contents; nullopt when the file does not exist). group_add is
// HostConfig.GroupAdd.
Result<ExecUser> resolve_user(std::string_view spec, std::optional<std::string_view> passwd,
                              std::optional<std::string_view> group,
                              std::span<const std::string> group_add = {});

// In the spawn child: setgroups(groups), setresgid(gid), then setresuid(uid)
// under PR_SET_KEEPCAPS so the permitted capabilities survive a switch to a
// non-zero uid (caps.h's set_in_child() then sets the final sets). Returns
// 0 or the errno of the failing call. Raw syscalls only: glibc's setresuid()
// and setgroups() signal every thread of the process to change their
// credentials too, which must not happen from a child that shares the
// daemon's memory. No allocation, async-signal-safe.
int apply_in_child(const ExecUser& user) noexcept;

}  // namespace berth::core::runtime
