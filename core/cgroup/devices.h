// Device cgroup rules: what a container may open (r, w) or create (m).
//
// docker's confinement is "deny all, then allow a short list"
// (default_device_rules(), from ../shared/reference/docker-defaults.md).
// The v1 driver writes each rule to devices.allow / devices.deny; the v2
// driver reduces the list the way the v1 kernel would (DeviceRuleSet) and
// compiles it to an eBPF program (v2/device_filter.h).
// Pure values and functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::core::cgroup {

struct DeviceRule {
  static constexpr int wildcard = -1;
  char type = 'a';  // 'a' (all), 'c' (char), 'b' (block)
  int major = wildcard;
  int minor = wildcard;
  std::string access = "rwm";  // a subset of "rwm"
  bool allow = true;

  static DeviceRule all(bool allow) { return DeviceRule{'a', wildcard, wildcard, "rwm", allow}; }
  static DeviceRule chr(int major, int minor, std::string access = "rwm") {
    return DeviceRule{'c', major, minor, std::move(access), true};
  }

  bool operator==(const DeviceRule&) const = default;
};

// "c 1:3 rwm", "b *:* m", "a" (the v1 devices.allow/deny syntax).
std::string to_v1_string(const DeviceRule& r);
// Parses the syntax above (docker's --device-cgroup-rule) as an allow rule.
Result<DeviceRule> parse_device_rule(std::string_view s);

// docker's default allow list after "deny all": c *:* m, b *:* m,
// c 1:3 1:5 1:7 1:8 1:9 (null zero full random urandom), c 5:0 5:1 5:2
// (tty console ptmx), c 136:* (pts), all rwm.
const std::vector<DeviceRule>& default_device_rules();
// c 10:200 rwm (/dev/net/tun), for containers with CAP_NET_ADMIN.
DeviceRule tun_device_rule();

// The whole list a container gets: deny all, the defaults, then extra.
std::vector<DeviceRule> container_device_rules(const std::vector<DeviceRule>& extra);

// The v1 kernel's reading of a rule list: a default (allow or deny all) and
// exceptions to it. Rules apply in order; an "a" rule resets the default
// and drops the exceptions; a rule of the default's kind removes its access
// bits from exceptions with the same type and numbers (as the kernel does).
struct DeviceRuleSet {
  bool default_allow = true;
  std::vector<DeviceRule> exceptions;  // allow == !default_allow

  static DeviceRuleSet from(const std::vector<DeviceRule>& rules);
  // Would the kernel grant `access` (one of 'r', 'w', 'm') on the device?
  bool allows(char type, int major, int minor, char access) const;
};

}  // namespace berth::core::cgroup
