#include "core/runtime/user.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "core/base/strings.h"

namespace berth::core::runtime {

namespace {

constexpr int64_t max_id = INT32_MAX;  // moby's maxID, for 32-bit compatibility

Error range_error() {
  return Error{Errc::invalid_argument, 0, str_cat("uids and gids must be in range 0-", max_id)};
}

// A user or group argument of the spec, as moby's parseNumeric reads it:
// what Go's strconv.Atoi accepts is a number (and must be in range),
// anything else is a name.
struct IdArg {
  std::string_view name;
  uint32_t id = 0;
  bool numeric = false;
};

Result<IdArg> parse_id_arg(std::string_view s) {
  IdArg a{s};
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return a;                               // a name
  auto v = parse_number<uint64_t>(digits);  // nullopt: overflow
  if (!v || (negative && *v != 0) || *v > static_cast<uint64_t>(max_id))
    return std::unexpected(range_error());
  a.numeric = true;
  a.id = static_cast<uint32_t>(*v);
  return a;
}

// The lines of a passwd/group file worth parsing.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    fn(line);
  }
}

std::optional<uint32_t> parse_file_id(std::string_view s) {
  auto v = parse_number<uint32_t>(s);
  if (!v || *v > static_cast<uint64_t>(max_id)) return std::nullopt;
  return v;
}

void add_group(std::vector<gid_t>& groups, gid_t g) {
  if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
}

}  // namespace

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> out;
  for_each_line(text, [&](std::string_view line) {
    // name:password:UID:GID:GECOS:directory:shell
    auto f = split(line, ':');
    if (f.size() < 4 || f[0].empty()) return;
    auto uid = parse_file_id(f[2]);
    auto gid = parse_file_id(f[3]);
    if (!uid || !gid) return;
    PasswdEntry e;
    e.name = f[0];
    e.password = f[1];
    e.uid = *uid;
    e.gid = *gid;
    if (f.size() > 4) e.gecos = f[4];
    if (f.size() > 5) e.home = f[5];
    if (f.size() > 6) e.shell = f[6];
    out.push_back(std::move(e));
  });
  return out;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> out;
  for_each_line(text, [&](std::string_view line) {
    // group_name:password:GID:user_list
    auto f = split(line, ':');
    if (f.size() < 3 || f[0].empty()) return;
    auto gid = parse_file_id(f[2]);
    if (!gid) return;
    GroupEntry e;
    e.name = f[0];
    e.password = f[1];
    e.gid = *gid;
    if (f.size() > 3 && !f[3].empty())
      for (auto m : split(f[3], ',')) e.members.emplace_back(m);
    out.push_back(std::move(e));
  });
  return out;
}

Result<ExecUser> resolve_user(std::string_view spec, std::optional<std::string_view> passwd,
                              std::optional<std::string_view> group,
                              std::span<const std::string> group_add) {
  std::string_view user_part = spec, group_part;
  if (auto parts = split_once(spec, ':')) {
    user_part = parts->first;
    group_part = parts->second;
  }
  std::optional<IdArg> user_arg, group_arg;
  if (!user_part.empty()) user_arg = BERTH_TRY(parse_id_arg(user_part));
  if (!group_part.empty()) group_arg = BERTH_TRY(parse_id_arg(group_part));

  ExecUser u;
  std::string matched_name;
  const auto users = passwd ? parse_passwd(*passwd) : std::vector<PasswdEntry>{};
  auto it = std::find_if(users.begin(), users.end(), [&](const PasswdEntry& e) {
    if (!user_arg) return e.uid == 0;
    return user_arg->numeric ? e.uid == user_arg->id : e.name == user_arg->name;
  });
  if (it != users.end()) {
    matched_name = it->name;
    u.uid = it->uid;
    u.gid = it->gid;
    if (!it->home.empty()) u.home = it->home;
  } else if (user_arg) {
    if (!user_arg->numeric)
      return fail(Errc::invalid_argument, str_cat("unable to find user ", user_arg->name,
                                                  ": no matching entries in passwd file"));
    u.uid = user_arg->id;
  }

  std::vector<gid_t> memberships;
  if (group_arg || !matched_name.empty()) {
    const auto groups = group ? parse_group(*group) : std::vector<GroupEntry>{};
    if (group_arg) {
      auto g = std::find_if(groups.begin(), groups.end(), [&](const GroupEntry& e) {
        return group_arg->numeric ? e.gid == group_arg->id : e.name == group_arg->name;
      });
      if (g != groups.end()) {
        u.gid = g->gid;
      } else {
        if (!group_arg->numeric)
          return fail(Errc::invalid_argument, str_cat("unable to find group ", group_arg->name,
                                                      ": no matching entries in group file"));
        u.gid = group_arg->id;
      }
    } else {
      for (const auto& g : groups)
        if (std::find(g.members.begin(), g.members.end(), matched_name) != g.members.end())
          memberships.push_back(g.gid);
    }
  }

  u.groups.push_back(u.gid);
  for (gid_t g : memberships) add_group(u.groups, g);

  if (!group_add.empty()) {
    const auto groups = group ? parse_group(*group) : std::vector<GroupEntry>{};
    for (const auto& name : group_add) {
      IdArg a = BERTH_TRY(parse_id_arg(name));
      auto g = std::find_if(groups.begin(), groups.end(), [&](const GroupEntry& e) {
        return a.numeric ? e.gid == a.id : e.name == a.name;
      });
      if (g != groups.end()) {
        add_group(u.groups, g->gid);
      } else if (a.numeric) {
        add_group(u.groups, a.id);
      } else {
        return fail(Errc::invalid_argument,
                    str_cat("unable to find group ", name, ": no matching entries in group file"));
      }
    }
  }
  if (u.groups.size() > NGROUPS_MAX)
    return fail(Errc::invalid_argument, str_cat("too many supplementary groups: ", u.groups.size(),
                                                " (at most ", NGROUPS_MAX, ")"));
  return u;
}

int apply_in_child(const ExecUser& user) noexcept {
#ifdef SYS_setgroups32  // 32-bit ABIs: the plain calls take 16-bit ids
  constexpr long nr_setgroups = SYS_setgroups32, nr_setresgid = SYS_setresgid32,
                 nr_setresuid = SYS_setresuid32;
#else
  constexpr long nr_setgroups = SYS_setgroups, nr_setresgid = SYS_setresgid,
                 nr_setresuid = SYS_setresuid;
#endif
  if (::syscall(nr_setgroups, user.groups.size(), user.groups.data()) != 0) return errno;
  if (::syscall(nr_setresgid, user.gid, user.gid, user.gid) != 0) return errno;
  if (user.uid == 0) {
    if (::syscall(nr_setresuid, 0, 0, 0) != 0) return errno;
    return 0;
  }
  if (::syscall(SYS_prctl, PR_SET_KEEPCAPS, 1UL, 0UL, 0UL, 0UL) != 0) return errno;
  if (::syscall(nr_setresuid, user.uid, user.uid, user.uid) != 0) return errno;
  if (::syscall(SYS_prctl, PR_SET_KEEPCAPS, 0UL, 0UL, 0UL, 0UL) != 0) return errno;
  return 0;
}

}  // namespace berth::core::runtime
