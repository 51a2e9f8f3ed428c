// DockerConfig: registry credentials in docker's config.json, so that berth
// and the docker CLI share logins. The file is $DOCKER_CONFIG/config.json,
// else ~/.docker/config.json:
//   {"auths": {"registry.example.com": {"auth": "<base64 user:pass>"}}, ...}
// Keys berth does not know (psFormat, credHelpers, proxies...) and other
// servers' entries pass through a save unchanged in value and order. Saving
// writes a temporary file next to the target (through a symlink, as docker
// does), mode 0600, and renames it over.
//
// Credential helpers (credsStore, credHelpers) are not run: the file's own
// "auths" are read and written.
//
// Plain value; not thread-safe. Blocking file I/O (the CLI's few bytes).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/error.h"

namespace berth::cli {

// The key docker uses for Docker Hub.
inline constexpr const char* kIndexServer = "https://index.docker.io/v1/";

struct AuthEntry {
  std::string username, password;
  std::string identity_token;  // instead of a password, when the registry gave one
  std::string server;          // the key it was found under
};

// What goes in the X-Registry-Auth header for entry (nullopt: none known):
// base64url of {"username","password","serveraddress"} or
// {"identitytoken","serveraddress"}; "e30=" ({}) for no credentials.
std::string registry_auth_header(const std::optional<AuthEntry>& entry);

// docker's credentials.ConvertToHostname: "https://host:5000/v2/" -> "host:5000".
std::string convert_to_hostname(std::string_view server);
// The key for a registry domain ("docker.io" -> kIndexServer) or a login
// argument ("" and docker.io's names -> kIndexServer, else its hostname).
std::string registry_key(std::string_view server);

class DockerConfig {
 public:
  // The config file's path from the environment ($DOCKER_CONFIG, $HOME).
  static std::string default_path();
  // Reads path; a missing or empty file is an empty config. A file that is
  // not a JSON object is an error.
  static Result<DockerConfig> load(std::string path);

  const std::string& path() const { return path_; }
  // The entry for server: its exact key, else any key with the same hostname.
  std::optional<AuthEntry> find(std::string_view server) const;
  void set(const AuthEntry& entry);  // under entry.server
  // Removes every key naming server's host (exact, host, http://, https://);
  // false if there was none.
  bool erase(std::string_view server);
  Result<void> save() const;
  // The file's text as save() would write it.
  std::string serialize() const;

 private:
  std::string path_;
  // The file's other top-level keys, with their JSON text, in order.
  std::vector<std::pair<std::string, std::string>> fields_;
  bool has_auths_ = false;
  size_t auths_at_ = 0;  // where "auths" sits among fields_
  // auths: server -> the entry's JSON text, in order.
  std::vector<std::pair<std::string, std::string>> auths_;
};

}  // namespace berth::cli
