#include "core/runtime/user.h"

#include <gtest/gtest.h>

namespace berth::core::runtime {
namespace {

constexpr std::string_view passwd = R"(root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment:x:7:7::/comment:/bin/sh
bin:x:2:2:bin:/bin:/usr/sbin/nologin

   alice:x:1000:1000:Alice:/home/alice:/bin/sh
broken line
bob:x:1001:1001::/home/bob:/bin/sh
dup:x:1002:1002::/first:/bin/sh
dup:x:1003:1003::/second:/bin/sh
nohome:x:1004:1004
evil:x:notanumber:0::/evil:/bin/sh
last:x:1005:1005::/home/last:/bin/sh)";

constexpr std::string_view group =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "bin:x:2:\n"
    "staff:x:50:alice,bob\n"
    "video:x:44:alice\n"
    "alice:x:1000:\n"
    "bob:x:1001:\n"
    "#comment:x:60:alice\n"
    "dupg:x:70:\n"
    "dupg:x:71:\n"
    "users:x:100:\n"
    "broken\n"
    "badgid:x:nope:alice\n";

struct Case {
  std::string spec;
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
  std::string home;
};

TEST(User, ResolutionTable) {
  const Case cases[] = {
      {"", 0, 0, {0}, "/root"},
      {"root", 0, 0, {0}, "/root"},
      {"0", 0, 0, {0}, "/root"},
      {"alice", 1000, 1000, {1000, 50, 44}, "/home/alice"},
      {"1000", 1000, 1000, {1000, 50, 44}, "/home/alice"},
      {"+1000", 1000, 1000, {1000, 50, 44}, "/home/alice"},  // Go's Atoi takes a sign
      {"alice:", 1000, 1000, {1000, 50, 44}, "/home/alice"},
      {"bob", 1001, 1001, {1001, 50}, "/home/bob"},
      // An explicit group replaces the gid and adds no memberships.
      {"alice:staff", 1000, 50, {50}, "/home/alice"},
      {"alice:44", 1000, 44, {44}, "/home/alice"},
      {"1000:1000", 1000, 1000, {1000}, "/home/alice"},
      {"alice:999", 1000, 999, {999}, "/home/alice"},
      {"1000:staff", 1000, 50, {50}, "/home/alice"},
      // Numeric ids that passwd/group do not know are taken as they are.
      {"4242", 4242, 0, {0}, "/"},
      {"4242:4242", 4242, 4242, {4242}, "/"},
      {"4242:staff", 4242, 50, {50}, "/"},
      // No user part: uid 0's entry, then the explicit group.
      {":staff", 0, 50, {50}, "/root"},
      // First match wins.
      {"dup", 1002, 1002, {1002}, "/first"},
      {"1003", 1003, 1003, {1003}, "/second"},
      {"alice:dupg", 1000, 70, {70}, "/home/alice"},
      // Short lines are fine; no home means "/".
      {"nohome", 1004, 1004, {1004}, "/"},
      {"last", 1005, 1005, {1005}, "/home/last"},  // no final newline
      {"2147483647", 2147483647, 0, {0}, "/"},
  };
  for (const auto& c : cases) {
    auto u = resolve_user(c.spec, passwd, group);
    ASSERT_TRUE(u) << c.spec << ": " << u.error().message;
    EXPECT_EQ(u->uid, c.uid) << c.spec;
    EXPECT_EQ(u->gid, c.gid) << c.spec;
    EXPECT_EQ(u->groups, c.groups) << c.spec;
    EXPECT_EQ(u->home, c.home) << c.spec;
  }
}

TEST(User, Errors) {
  const std::pair<std::string, std::string> cases[] = {
      {"nosuch", "unable to find user nosuch: no matching entries in passwd file"},
      {"nosuch:staff", "unable to find user nosuch: no matching entries in passwd file"},
      {"alice:nosuch", "unable to find group nosuch: no matching entries in group file"},
      // Malformed and commented lines are not entries.
      {"evil", "unable to find user evil: no matching entries in passwd file"},
      {"broken line", "unable to find user broken line: no matching entries in passwd file"},
      {"# a comment", "unable to find user # a comment: no matching entries in passwd file"},
      {"alice:#comment", "unable to find group #comment: no matching entries in group file"},
      {"alice:badgid", "unable to find group badgid: no matching entries in group file"},
      {"-1", "uids and gids must be in range 0-2147483647"},
      {"2147483648", "uids and gids must be in range 0-2147483647"},
      {"99999999999999999999999", "uids and gids must be in range 0-2147483647"},
      {"alice:-5", "uids and gids must be in range 0-2147483647"},
      {"0x10", "unable to find user 0x10: no matching entries in passwd file"},
  };
  for (const auto& [spec, message] : cases) {
    auto u = resolve_user(spec, passwd, group);
    ASSERT_FALSE(u) << spec;
    EXPECT_EQ(u.error().code, Errc::invalid_argument) << spec;
    EXPECT_EQ(u.error().message, message) << spec;
  }
}

TEST(User, MissingFiles) {
  // No /etc/passwd: numbers work, names do not.
  auto u = resolve_user("", std::nullopt, std::nullopt);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, 0u);
  EXPECT_EQ(u->gid, 0u);
  EXPECT_EQ(u->groups, std::vector<gid_t>{0});
  EXPECT_EQ(u->home, "/");
  u = resolve_user("1000:1000", std::nullopt, std::nullopt);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_EQ(resolve_user("root", std::nullopt, group).error().message,
            "unable to find user root: no matching entries in passwd file");
  // No /etc/group: the passwd gid, no memberships; group names fail.
  u = resolve_user("alice", passwd, std::nullopt);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_EQ(u->groups, std::vector<gid_t>{1000});
  u = resolve_user("alice:50", passwd, std::nullopt);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->gid, 50u);
  EXPECT_EQ(resolve_user("alice:staff", passwd, std::nullopt).error().message,
            "unable to find group staff: no matching entries in group file");
  // Empty files are files with no entries.
  EXPECT_FALSE(resolve_user("alice", "", ""));
  EXPECT_TRUE(resolve_user("", "", ""));
}

TEST(User, GroupAdd) {
  std::vector<std::string> add = {"video", "4000", "staff", "video", "users"};
  auto u = resolve_user("bob", passwd, group, add);
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->groups, (std::vector<gid_t>{1001, 50, 44, 4000, 100}));
  // With an explicit group too.
  u = resolve_user("bob:users", passwd, group, std::vector<std::string>{"44"});
  ASSERT_TRUE(u);
  EXPECT_EQ(u->gid, 100u);
  EXPECT_EQ(u->groups, (std::vector<gid_t>{100, 44}));
  // Without a group file numbers still work.
  u = resolve_user("1234", std::nullopt, std::nullopt, std::vector<std::string>{"5", "6"});
  ASSERT_TRUE(u);
  EXPECT_EQ(u->groups, (std::vector<gid_t>{0, 5, 6}));

  auto bad = resolve_user("bob", passwd, group, std::vector<std::string>{"nosuch"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "unable to find group nosuch: no matching entries in group file");
  bad = resolve_user("bob", passwd, std::nullopt, std::vector<std::string>{"staff"});
  ASSERT_FALSE(bad);
  bad = resolve_user("bob", passwd, group, std::vector<std::string>{"-1"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "uids and gids must be in range 0-2147483647");
}

TEST(User, Parsers) {
  auto users = parse_passwd(passwd);
  ASSERT_GE(users.size(), 3u);
  EXPECT_EQ(users[0].name, "root");
  EXPECT_EQ(users[0].home, "/root");
  EXPECT_EQ(users[0].shell, "/bin/bash");
  for (const auto& u : users) {
    EXPECT_NE(u.name, "evil");
    EXPECT_NE(u.name, "broken line");
    EXPECT_NE(u.name[0], '#');
  }
  auto alice = std::find_if(users.begin(), users.end(), [](auto& u) { return u.name == "alice"; });
  ASSERT_NE(alice, users.end());
  EXPECT_EQ(alice->gecos, "Alice");
  EXPECT_EQ(alice->uid, 1000u);

  auto groups = parse_group(group);
  auto staff =
      std::find_if(groups.begin(), groups.end(), [](auto& g) { return g.name == "staff"; });
  ASSERT_NE(staff, groups.end());
  EXPECT_EQ(staff->gid, 50u);
  EXPECT_EQ(staff->members, (std::vector<std::string>{"alice", "bob"}));
  for (const auto& g : groups) {
    EXPECT_NE(g.name, "broken");
    EXPECT_NE(g.name, "badgid");
  }
  // CRLF files.
  auto crlf = parse_passwd("x:x:5:6::/h:/bin/sh\r\ny:x:7:8::/y:/bin/sh\r\n");
  ASSERT_EQ(crlf.size(), 2u);
  EXPECT_EQ(crlf[0].shell, "/bin/sh");
  EXPECT_EQ(crlf[1].gid, 8u);
  EXPECT_TRUE(parse_passwd("").empty());
  EXPECT_TRUE(parse_group("\n\n# only comments\n").empty());
}

TEST(User, AlpineStyleFiles) {
  // Busybox images list root in its own groups.
  constexpr std::string_view alpine_passwd =
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n";
  constexpr std::string_view alpine_group =
      "root:x:0:root\nbin:x:1:root,bin,daemon\ndaemon:x:2:root,bin,daemon\nwheel:x:10:root\n"
      "nogroup:x:65533:\nnobody:x:65534:\n";
  auto u = resolve_user("", alpine_passwd, alpine_group);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->groups, (std::vector<gid_t>{0, 1, 2, 10}));
  u = resolve_user("nobody", alpine_passwd, alpine_group);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, 65534u);
  EXPECT_EQ(u->groups, std::vector<gid_t>{65534});
}

}  // namespace
}  // namespace berth::core::runtime
