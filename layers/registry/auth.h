// Registry authentication: the challenges a registry answers 401 with
// (WWW-Authenticate: Bearer realm=...,service=...,scope=... or Basic
// realm=...), the credentials a user gave (docker login / X-Registry-Auth),
// and the token request of the distribution token flow.
// Plain values; thread-safe functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::layers::registry {

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth refresh token from an earlier login
  std::string registry_token;  // a bearer token to send as is
  bool empty() const {
    return username.empty() && password.empty() && identity_token.empty() && registry_token.empty();
  }
};

struct Challenge {
  std::string scheme;                         // lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lowercase
  std::string param(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? std::string() : it->second;
  }
};

// Parses one or more challenges (RFC 7235): scheme followed by
// comma-separated key=value or key="quoted value" pairs.
std::vector<Challenge> parse_challenges(std::string_view header);

// "Basic base64(user:pass)".
std::string basic_authorization(const Credentials& c);

// The token endpoint URL for a Bearer challenge and the scopes wanted
// (e.g. "repository:library/busybox:pull"): realm?service=..&scope=..
// &account=user. invalid_argument when the challenge has no realm.
Result<std::string> token_url(const Challenge& c, const std::vector<std::string>& scopes,
                              const Credentials& creds);

// The token in a token endpoint's JSON answer ("token" or "access_token").
Result<std::string> parse_token_response(std::string_view body);

// The first error of a registry's JSON error body ({"errors":[{"code",
// "message","detail"}]}) as "code: message", or "" when there is none.
std::string registry_error_message(std::string_view body);

// Percent-encodes a query value.
std::string url_encode(std::string_view s);

}  // namespace berth::layers::registry
