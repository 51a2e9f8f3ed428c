#include "tools/cli/docker_config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "tools/cli/format.h"

namespace berth::cli {

namespace {

Error file_error(int err, std::string_view what, const std::string& path) {
  return Error{Errc::io, err, str_cat(what, " ", path, ": ", go_strerror(err))};
}

Result<std::string> read_file(const std::string& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::unexpected(file_error(errno, "open", path));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(file_error(errno, "read", path));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Result<void> make_dirs(const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return {};
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return {};
  BERTH_TRY(make_dirs(dir_of(dir)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return std::unexpected(file_error(errno, "mkdir", dir));
  return {};
}

// The file a save replaces: the target of a symlink, as docker writes it.
std::string save_target(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return path;
  std::string target(buf, static_cast<size_t>(n));
  if (target.front() != '/') target = dir_of(path) + "/" + target;
  return target;
}

AuthEntry decode_entry(const std::string& server, const std::string& raw) {
  AuthEntry e;
  e.server = server;
  auto p = json::parse(raw);
  if (!p) return e;
  std::string auth;
  (void)json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
    if (json::is_null(v)) return {};
    auto s = json::get_string(v, k);
    if (!s) return {};
    if (iequals(k, "auth")) auth = std::move(*s);
    if (iequals(k, "username")) e.username = std::move(*s);
    if (iequals(k, "password")) e.password = std::move(*s);
    if (iequals(k, "identitytoken")) e.identity_token = std::move(*s);
    return {};
  });
  if (!auth.empty()) {
    if (auto d = base64_decode(auth)) {
      if (auto up = split_once(*d, ':')) {
        e.username = std::string(up->first);
        e.password = std::string(up->second);
      }
    }
  }
  return e;
}

}  // namespace

std::string registry_auth_header(const std::optional<AuthEntry>& entry) {
  if (!entry || (entry->username.empty() && entry->identity_token.empty())) return "e30=";
  std::string text;
  json::Writer w(text);
  w.begin_object();
  if (!entry->username.empty()) w.kv("username", entry->username);
  if (!entry->identity_token.empty())
    w.kv("identitytoken", entry->identity_token);
  else if (!entry->password.empty())
    w.kv("password", entry->password);
  if (!entry->server.empty()) w.kv("serveraddress", entry->server);
  w.end_object();
  return base64_encode(text, true);
}

std::string convert_to_hostname(std::string_view server) {
  if (size_t p = server.find("://"); p != std::string_view::npos) server.remove_prefix(p + 3);
  return std::string(server.substr(0, server.find('/')));
}

std::string registry_key(std::string_view server) {
  std::string host = convert_to_hostname(server);
  if (host.empty() || host == "docker.io" || host == "index.docker.io" ||
      host == "registry-1.docker.io")
    return kIndexServer;
  return host;
}

std::string DockerConfig::default_path() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) return str_cat(d, "/config.json");
  const char* home = std::getenv("HOME");
  return str_cat(home && *home ? home : "/root", "/.docker/config.json");
}

Result<DockerConfig> DockerConfig::load(std::string path) {
  DockerConfig c;
  c.path_ = std::move(path);
  auto text = read_file(c.path_);
  if (!text) {
    if (text.error().sys_errno == ENOENT) return c;
    return std::unexpected(std::move(text.error()));
  }
  if (trim(*text).empty()) return c;
  auto bad = [&](const Error& e) {
    return Error{Errc::invalid_argument, 0,
                 str_cat("loading config file ", c.path_, ": ", e.message)};
  };
  auto p = json::parse(*text);
  if (!p) return std::unexpected(bad(p.error()));
  auto r =
      json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (k == "auths") {
          c.has_auths_ = true;
          c.auths_at_ = c.fields_.size();
          if (json::is_null(v)) return {};
          return json::for_each_field(
              v, k, [&](std::string_view server, json::od::value e) -> Result<void> {
                c.auths_.emplace_back(std::string(server), BERTH_TRY(json::get_raw(e, server)));
                return {};
              });
        }
        c.fields_.emplace_back(std::string(k), BERTH_TRY(json::get_raw(v, k)));
        return {};
      });
  if (!r) return std::unexpected(bad(r.error()));
  return c;
}

std::optional<AuthEntry> DockerConfig::find(std::string_view server) const {
  for (const auto& [key, raw] : auths_)
    if (key == server) return decode_entry(key, raw);
  std::string host = convert_to_hostname(server);
  for (const auto& [key, raw] : auths_)
    if (convert_to_hostname(key) == host) return decode_entry(key, raw);
  return std::nullopt;
}

void DockerConfig::set(const AuthEntry& entry) {
  std::string raw;
  json::Writer w(raw);
  w.begin_object();
  // With an identity token docker keeps the user name only ("user:").
  std::string secret = entry.identity_token.empty() ? entry.password : std::string();
  w.kv("auth", base64_encode(str_cat(entry.username, ":", secret)));
  if (!entry.identity_token.empty()) w.kv("identitytoken", entry.identity_token);
  w.end_object();
  if (!has_auths_) {
    has_auths_ = true;
    auths_at_ = 0;
  }
  for (auto& [key, value] : auths_) {
    if (key == entry.server) {
      value = std::move(raw);
      return;
    }
  }
  auths_.emplace_back(entry.server, std::move(raw));
}

bool DockerConfig::erase(std::string_view server) {
  std::vector<std::string> keys{std::string(server)};
  if (server != kIndexServer) {
    std::string host = convert_to_hostname(server);
    keys.push_back(host);
    keys.push_back("http://" + host);
    keys.push_back("https://" + host);
  }
  bool found = false;
  for (const auto& k : keys) {
    for (auto it = auths_.begin(); it != auths_.end(); ++it) {
      if (it->first == k) {
        auths_.erase(it);
        found = true;
        break;
      }
    }
  }
  return found;
}

std::string DockerConfig::serialize() const {
  std::string text;
  json::Writer w(text);
  w.begin_object();
  auto write_auths = [&] {
    w.key("auths").begin_object();
    for (const auto& [server, raw] : auths_) w.key(server).raw(raw);
    w.end_object();
  };
  for (size_t i = 0; i <= fields_.size(); ++i) {
    if (has_auths_ && i == auths_at_) write_auths();
    if (i < fields_.size()) w.key(fields_[i].first).raw(fields_[i].second);
  }
  w.end_object();
  return indent_json(text, "\t");
}

Result<void> DockerConfig::save() const {
  std::string target = save_target(path_);
  std::string dir = dir_of(target);
  BERTH_TRY(make_dirs(dir));
  std::string temp = str_cat(dir, "/.config.json.XXXXXX");
  unique_fd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return std::unexpected(file_error(errno, "create a temporary file in", dir));
  std::string text = serialize();
  auto failed = [&](std::string_view what) {
    int err = errno;
    ::unlink(temp.c_str());
    return std::unexpected(file_error(err, what, target));
  };
  if (::fchmod(fd.get(), 0600) != 0) return failed("chmod");
  std::string_view rest = text;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed("write");
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd.get()) != 0) return failed("sync");
  if (::rename(temp.c_str(), target.c_str()) != 0) return failed("rename");
  return {};
}

}  // namespace berth::cli
