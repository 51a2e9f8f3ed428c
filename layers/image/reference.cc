#include "layers/image/reference.h"

#include <cctype>

#include "core/base/strings.h"

namespace berth::layers::image {

namespace {

bool is_alnum_lower(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
bool valid_path_component(std::string_view c) {
  if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (is_alnum_lower(c[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < c.size() && !is_alnum_lower(c[i])) ++i;
    std::string_view sep = c.substr(start, i - start);
    bool ok = sep == "." || sep == "_" || sep == "__" ||
              sep.find_first_not_of('-') == std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool valid_domain(std::string_view d) {
  std::string_view host = d;
  if (auto colon = d.rfind(':');
      colon != std::string_view::npos && d.find(']') == std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos)
      return false;
    host = d.substr(0, colon);
  }
  if (host.empty()) return false;
  if (host.front() == '[') return host.back() == ']';  // IPv6 literal
  for (std::string_view label : split(host, '.')) {
    if (label.empty()) return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    if (label.front() == '-' || label.back() == '-') return false;
  }
  return true;
}

bool has_upper(std::string_view s) {
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

}  // namespace

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t[0])) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

bool valid_digest(std::string_view d) {
  if (!d.starts_with("sha256:")) return false;
  std::string_view hex = d.substr(7);
  return hex.size() == 64 && is_hex(hex);
}

bool looks_like_id(std::string_view s) {
  if (s.starts_with("sha256:")) s.remove_prefix(7);
  return s.size() >= 12 && s.size() <= 64 && is_hex(s);
}

std::string Reference::str() const {
  std::string out = repository();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Reference::familiar_repository() const {
  if (domain == "docker.io") {
    if (path.starts_with("library/") && path.find('/', 8) == std::string::npos)
      return path.substr(8);
    return path;
  }
  return repository();
}

std::string Reference::familiar() const {
  std::string out = familiar_repository();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Result<Reference> parse_reference(std::string_view s, bool default_tag) {
  auto invalid = [&](std::string_view why = {}) {
    return fail(Errc::invalid_argument, why.empty() ? std::string("invalid reference format")
                                                    : str_cat("invalid reference format: ", why));
  };
  if (s.empty() || s.size() > 4096) return invalid();
  Reference r;
  std::string_view rest = s;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    r.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!valid_digest(r.digest)) return invalid();
  }
  // A tag follows the last ':' that comes after the last '/'.
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!valid_tag(r.tag)) return invalid();
  }
  if (rest.empty()) return invalid();
  std::string_view name = rest;
  size_t first = name.find('/');
  std::string_view head = name.substr(0, first);
  bool has_domain = first != std::string_view::npos && (head.find('.') != std::string_view::npos ||
                                                        head.find(':') != std::string_view::npos ||
                                                        head == "localhost" || has_upper(head));
  if (has_domain) {
    if (!valid_domain(head)) return invalid();
    r.domain = std::string(head);
    name = name.substr(first + 1);
  } else {
    r.domain = "docker.io";
  }
  if (r.domain == "index.docker.io") r.domain = "docker.io";
  if (has_upper(name)) {
    std::string shown(name);
    if (r.domain == "docker.io" && shown.find('/') == std::string::npos) shown = "library/" + shown;
    return invalid(str_cat("repository name (", shown, ") must be lowercase"));
  }
  for (std::string_view comp : split(name, '/'))
    if (!valid_path_component(comp)) return invalid();
  r.path = std::string(name);
  if (r.domain == "docker.io" && r.path.find('/') == std::string::npos)
    r.path = "library/" + r.path;
  if (r.repository().size() > 255)
    return invalid("repository name must not be more than 255 characters");
  if (r.tag.empty() && r.digest.empty() && default_tag) r.tag = "latest";
  return r;
}

}  // namespace berth::layers::image
