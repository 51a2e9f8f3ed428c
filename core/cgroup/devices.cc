#include "core/cgroup/devices.h"

#include <algorithm>

#include "core/base/strings.h"

namespace berth::core::cgroup {

static void append_number(std::string& out, int n) {
  if (n == DeviceRule::wildcard)
    out.push_back('*');
  else
    str_append(out, n);
}

std::string to_v1_string(const DeviceRule& r) {
  if (r.type == 'a') return "a";
  std::string out(1, r.type);
  out.push_back(' ');
  append_number(out, r.major);
  out.push_back(':');
  append_number(out, r.minor);
  out.push_back(' ');
  out.append(r.access);
  return out;
}

static bool valid_access(std::string_view a) {
  if (a.empty() || a.size() > 3) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != 'r' && a[i] != 'w' && a[i] != 'm') return false;
    if (a.find(a[i], i + 1) != std::string_view::npos) return false;
  }
  return true;
}

static std::optional<int> parse_device_number(std::string_view s) {
  if (s == "*") return DeviceRule::wildcard;
  auto n = parse_number<int>(s);
  if (!n || *n < 0) return std::nullopt;
  return n;
}

Result<DeviceRule> parse_device_rule(std::string_view s) {
  auto bad = [&] { return fail(Errc::invalid_argument, str_cat("invalid device rule '", s, "'")); };
  std::vector<std::string_view> f;
  for (std::string_view p : split(trim(s), ' '))
    if (!p.empty()) f.push_back(p);
  if (f.empty() || f[0].size() != 1) return bad();
  DeviceRule r;
  r.type = f[0][0];
  if (r.type == 'a') {
    if (f.size() != 1 && f.size() != 3) return bad();
    if (f.size() == 3 && (f[1] != "*:*" || !valid_access(f[2]))) return bad();
    return r;
  }
  if ((r.type != 'c' && r.type != 'b') || f.size() < 2 || f.size() > 3) return bad();
  auto mm = split_once(f[1], ':');
  if (!mm) return bad();
  auto major = parse_device_number(mm->first);
  auto minor = parse_device_number(mm->second);
  if (!major || !minor) return bad();
  r.major = *major;
  r.minor = *minor;
  r.access = f.size() == 3 ? std::string(f[2]) : "rwm";
  if (!valid_access(r.access)) return bad();
  return r;
}

const std::vector<DeviceRule>& default_device_rules() {
  static const std::vector<DeviceRule> rules = {
      {'c', DeviceRule::wildcard, DeviceRule::wildcard, "m", true},
      {'b', DeviceRule::wildcard, DeviceRule::wildcard, "m", true},
      DeviceRule::chr(1, 3),                       // null
      DeviceRule::chr(1, 5),                       // zero
      DeviceRule::chr(1, 7),                       // full
      DeviceRule::chr(1, 8),                       // random
      DeviceRule::chr(1, 9),                       // urandom
      DeviceRule::chr(5, 0),                       // tty
      DeviceRule::chr(5, 1),                       // console
      DeviceRule::chr(5, 2),                       // ptmx
      DeviceRule::chr(136, DeviceRule::wildcard),  // pts/*
  };
  return rules;
}

DeviceRule tun_device_rule() {
  return DeviceRule::chr(10, 200);
}

std::vector<DeviceRule> container_device_rules(const std::vector<DeviceRule>& extra) {
  std::vector<DeviceRule> out;
  out.reserve(1 + default_device_rules().size() + extra.size());
  out.push_back(DeviceRule::all(false));
  out.insert(out.end(), default_device_rules().begin(), default_device_rules().end());
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

static std::string remove_access(std::string_view from, std::string_view what) {
  std::string out;
  for (char c : from)
    if (what.find(c) == std::string_view::npos) out.push_back(c);
  return out;
}

DeviceRuleSet DeviceRuleSet::from(const std::vector<DeviceRule>& rules) {
  DeviceRuleSet set;
  for (const DeviceRule& r : rules) {
    if (r.type == 'a') {
      set.default_allow = r.allow;
      set.exceptions.clear();
      continue;
    }
    auto same = [&](const DeviceRule& e) {
      return e.type == r.type && e.major == r.major && e.minor == r.minor;
    };
    if (r.allow != set.default_allow) {
      // An exception: merge access into an identical one, else add.
      auto it = std::find_if(set.exceptions.begin(), set.exceptions.end(), same);
      if (it == set.exceptions.end()) {
        set.exceptions.push_back(r);
      } else {
        for (char c : r.access)
          if (it->access.find(c) == std::string::npos) it->access.push_back(c);
      }
    } else {
      // Same kind as the default: takes access away from identical exceptions.
      for (auto& e : set.exceptions)
        if (same(e)) e.access = remove_access(e.access, r.access);
      std::erase_if(set.exceptions, [](const DeviceRule& e) { return e.access.empty(); });
    }
  }
  return set;
}

bool DeviceRuleSet::allows(char type, int major, int minor, char access) const {
  for (const DeviceRule& e : exceptions) {
    if (e.type != type) continue;
    if (e.major != DeviceRule::wildcard && e.major != major) continue;
    if (e.minor != DeviceRule::wildcard && e.minor != minor) continue;
    if (e.access.find(access) == std::string::npos) continue;
    return e.allow;
  }
  return default_allow;
}

}  // namespace berth::core::cgroup
