#include "layers/registry/auth.h"

#include "core/base/json/reader.h"
#include "core/base/strings.h"

namespace berth::layers::registry {

namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void skip_space(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

}  // namespace

std::vector<Challenge> parse_challenges(std::string_view s) {
  std::vector<Challenge> out;
  size_t i = 0;
  while (i < s.size()) {
    skip_space(s, i);
    while (i < s.size() && s[i] == ',') {
      ++i;
      skip_space(s, i);
    }
    size_t start = i;
    while (i < s.size() && is_token_char(s[i])) ++i;
    if (i == start) break;
    std::string word(s.substr(start, i - start));
    skip_space(s, i);
    if (i < s.size() && s[i] == '=' && !out.empty()) {
      // key=value of the current challenge
      ++i;
      skip_space(s, i);
      std::string value;
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"') {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          value.push_back(s[i++]);
        }
        if (i < s.size()) ++i;
      } else {
        size_t vs = i;
        while (i < s.size() && s[i] != ',' && s[i] != ' ') ++i;
        value = std::string(s.substr(vs, i - vs));
      }
      out.back().params[to_lower(word)] = std::move(value);
      skip_space(s, i);
      if (i < s.size() && s[i] == ',') ++i;
      continue;
    }
    Challenge c;
    c.scheme = to_lower(word);
    out.push_back(std::move(c));
  }
  return out;
}

std::string basic_authorization(const Credentials& c) {
  return "Basic " + base64_encode(c.username + ":" + c.password);
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(hex[ch >> 4]);
      out.push_back(hex[ch & 15]);
    }
  }
  return out;
}

Result<std::string> token_url(const Challenge& c, const std::vector<std::string>& scopes,
                              const Credentials& creds) {
  std::string realm = c.param("realm");
  if (realm.empty())
    return fail(Errc::invalid_argument, "the registry's Bearer challenge names no realm");
  if (!realm.starts_with("https://") && !realm.starts_with("http://"))
    return fail(Errc::invalid_argument,
                "the registry's token realm is not an http(s) URL: " + realm);
  std::string url = realm;
  char sep = realm.find('?') == std::string::npos ? '?' : '&';
  auto add = [&](std::string_view k, std::string_view v) {
    url.push_back(sep);
    sep = '&';
    url.append(k).append("=").append(url_encode(v));
  };
  if (auto svc = c.param("service"); !svc.empty()) add("service", svc);
  for (const auto& sc : scopes) add("scope", sc);
  if (!creds.username.empty()) add("account", creds.username);
  return url;
}

Result<std::string> parse_token_response(std::string_view body) {
  auto doc = json::parse(body);
  if (!doc) return fail(Errc::unauthorized, "the token server's answer is not JSON");
  std::string token, access;
  auto r =
      json::for_each_root_field(**doc, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (k == "token")
          token = BERTH_TRY(json::get_string(v, "token"));
        else if (k == "access_token")
          access = BERTH_TRY(json::get_string(v, "access_token"));
        return {};
      });
  if (!r) return fail(Errc::unauthorized, "the token server's answer: " + r.error().message);
  if (token.empty()) token = access;
  if (token.empty()) return fail(Errc::unauthorized, "the token server answered without a token");
  return token;
}

std::string registry_error_message(std::string_view body) {
  auto doc = json::parse(body);
  if (!doc) return "";
  std::string out;
  (void)json::for_each_root_field(
      **doc, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (k != "errors" || !out.empty()) return {};
        json::od::array arr;
        if (v.get_array().get(arr) != simdjson::SUCCESS) return {};
        for (auto el : arr) {
          json::od::value ev;
          if (el.get(ev) != simdjson::SUCCESS) break;
          std::string code, message;
          (void)json::for_each_field(ev, "errors[]",
                                     [&](std::string_view ek, json::od::value x) -> Result<void> {
                                       if (ek == "code")
                                         code = json::get_string(x, "code").value_or("");
                                       else if (ek == "message")
                                         message = json::get_string(x, "message").value_or("");
                                       return {};
                                     });
          // As docker prints errcode errors: MANIFEST_UNKNOWN -> "manifest unknown".
          out = to_lower(code);
          for (auto& ch : out)
            if (ch == '_') ch = ' ';
          if (!message.empty()) out += (out.empty() ? "" : ": ") + message;
          break;
        }
        return {};
      });
  return out;
}

}  // namespace berth::layers::registry
