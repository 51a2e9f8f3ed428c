#include "layers/image/oci.h"

#include <time.h>

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"

namespace berth::layers::image {

namespace js = berth::json;
using js::od::value;

bool is_manifest_type(std::string_view mt) {
  return mt == media::oci_manifest || mt == media::docker_manifest;
}
bool is_index_type(std::string_view mt) {
  return mt == media::oci_index || mt == media::docker_list;
}
bool is_layer_type(std::string_view mt) {
  return mt.starts_with("application/vnd.oci.image.layer.") ||
         mt.starts_with("application/vnd.docker.image.rootfs.");
}

namespace {

Result<void> set_string(value v, std::string_view field, std::string& out) {
  out = BERTH_TRY(js::get_string(v, field));
  return {};
}

Result<std::map<std::string, std::string>> string_map(value v, std::string_view field) {
  return js::get_string_map(v, field);
}

Result<Platform> parse_platform(value v) {
  Platform p;
  BERTH_TRY(js::for_each_field(v, "platform", [&](std::string_view k, value f) -> Result<void> {
    if (k == "os") return set_string(f, "platform.os", p.os);
    if (k == "architecture") return set_string(f, "platform.architecture", p.architecture);
    if (k == "variant") return set_string(f, "platform.variant", p.variant);
    if (k == "os.version") return set_string(f, "platform.os.version", p.os_version);
    return {};
  }));
  return p;
}

Result<Descriptor> parse_descriptor(value v, std::string_view field) {
  Descriptor d;
  BERTH_TRY(js::for_each_field(v, field, [&](std::string_view k, value f) -> Result<void> {
    if (k == "mediaType") return set_string(f, str_cat(field, ".mediaType"), d.media_type);
    if (k == "digest") return set_string(f, str_cat(field, ".digest"), d.digest);
    if (k == "size") {
      d.size = BERTH_TRY(js::get_int(f, str_cat(field, ".size")));
      return {};
    }
    if (k == "platform") {
      d.platform = BERTH_TRY(parse_platform(f));
      return {};
    }
    if (k == "annotations") {
      d.annotations = BERTH_TRY(string_map(f, str_cat(field, ".annotations")));
      return {};
    }
    return {};
  }));
  if (d.digest.empty())
    return fail(Errc::invalid_argument, str_cat(field, ": descriptor without digest"));
  if (d.size < 0) return fail(Errc::invalid_argument, str_cat(field, ": negative size"));
  return d;
}

template <class Fn>
Result<void> each_element(value v, std::string_view field, Fn&& fn) {
  if (js::is_null(v)) return {};
  js::od::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS)
    return std::unexpected(js::bad_field(field, "expected an array"));
  size_t i = 0;
  for (auto el : arr) {
    value item;
    if (el.get(item) != simdjson::SUCCESS)
      return std::unexpected(js::bad_field(field, "invalid element"));
    BERTH_TRY(fn(item, i++));
  }
  return {};
}

}  // namespace

bool json_is_index(std::string_view json) {
  auto p = js::parse(json);
  if (!p) return false;
  bool has_manifests = false;
  std::string mt;
  auto r = js::for_each_root_field(**p, [&](std::string_view k, value v) -> Result<void> {
    if (k == "mediaType") {
      auto s = js::get_string(v, k);
      if (s) mt = *s;
    }
    if (k == "manifests") has_manifests = true;
    return {};
  });
  if (!r) return false;
  if (!mt.empty()) return is_index_type(mt);
  return has_manifests;
}

Result<Manifest> parse_manifest(std::string_view json) {
  auto p = BERTH_TRY(js::parse(json));
  Manifest m;
  bool has_config = false;
  BERTH_TRY(js::for_each_root_field(*p, [&](std::string_view k, value v) -> Result<void> {
    if (k == "schemaVersion") {
      m.schema_version = static_cast<int>(BERTH_TRY(js::get_int(v, k)));
      return {};
    }
    if (k == "mediaType") return set_string(v, k, m.media_type);
    if (k == "config") {
      m.config = BERTH_TRY(parse_descriptor(v, "config"));
      has_config = true;
      return {};
    }
    if (k == "layers") {
      return each_element(v, k, [&](value item, size_t i) -> Result<void> {
        m.layers.push_back(BERTH_TRY(parse_descriptor(item, str_cat("layers[", i, "]"))));
        return {};
      });
    }
    if (k == "annotations") {
      m.annotations = BERTH_TRY(string_map(v, k));
      return {};
    }
    return {};
  }));
  if (m.schema_version != 2)
    return fail(Errc::invalid_argument,
                str_cat("unsupported manifest schemaVersion ", m.schema_version));
  if (!has_config) return fail(Errc::invalid_argument, "manifest has no config");
  return m;
}

Result<Index> parse_index(std::string_view json) {
  auto p = BERTH_TRY(js::parse(json));
  Index idx;
  BERTH_TRY(js::for_each_root_field(*p, [&](std::string_view k, value v) -> Result<void> {
    if (k == "schemaVersion") {
      idx.schema_version = static_cast<int>(BERTH_TRY(js::get_int(v, k)));
      return {};
    }
    if (k == "mediaType") return set_string(v, k, idx.media_type);
    if (k == "manifests") {
      return each_element(v, k, [&](value item, size_t i) -> Result<void> {
        idx.manifests.push_back(BERTH_TRY(parse_descriptor(item, str_cat("manifests[", i, "]"))));
        return {};
      });
    }
    if (k == "annotations") {
      idx.annotations = BERTH_TRY(string_map(v, k));
      return {};
    }
    return {};
  }));
  return idx;
}

namespace {

Result<std::optional<std::vector<std::string>>> optional_strings(value v, std::string_view field) {
  if (js::is_null(v)) return std::optional<std::vector<std::string>>();
  return std::optional<std::vector<std::string>>(BERTH_TRY(js::get_string_array(v, field)));
}

Result<std::vector<std::string>> object_keys(value v, std::string_view field) {
  std::vector<std::string> keys;
  if (js::is_null(v)) return keys;
  BERTH_TRY(js::for_each_field(v, field, [&](std::string_view k, value) -> Result<void> {
    keys.emplace_back(k);
    return {};
  }));
  return keys;
}

Result<RunConfig> parse_run_config(value v) {
  RunConfig c;
  BERTH_TRY(js::for_each_field(v, "config", [&](std::string_view k, value f) -> Result<void> {
    if (iequals(k, "User")) return set_string(f, "config.User", c.user);
    if (iequals(k, "Env")) {
      c.env = BERTH_TRY(js::get_string_array(f, "config.Env"));
      return {};
    }
    if (iequals(k, "Cmd")) {
      c.cmd = BERTH_TRY(optional_strings(f, "config.Cmd"));
      return {};
    }
    if (iequals(k, "Entrypoint")) {
      c.entrypoint = BERTH_TRY(optional_strings(f, "config.Entrypoint"));
      return {};
    }
    if (iequals(k, "Shell")) {
      c.shell = BERTH_TRY(optional_strings(f, "config.Shell"));
      return {};
    }
    if (iequals(k, "WorkingDir")) return set_string(f, "config.WorkingDir", c.working_dir);
    if (iequals(k, "Labels")) {
      c.labels = BERTH_TRY(js::get_string_map(f, "config.Labels"));
      return {};
    }
    if (iequals(k, "ExposedPorts")) {
      c.exposed_ports = BERTH_TRY(object_keys(f, "config.ExposedPorts"));
      return {};
    }
    if (iequals(k, "Volumes")) {
      c.volumes = BERTH_TRY(object_keys(f, "config.Volumes"));
      return {};
    }
    if (iequals(k, "StopSignal")) return set_string(f, "config.StopSignal", c.stop_signal);
    if (iequals(k, "ArgsEscaped")) {
      c.args_escaped = BERTH_TRY(js::get_bool(f, "config.ArgsEscaped"));
      return {};
    }
    return {};
  }));
  return c;
}

}  // namespace

Result<ImageConfig> parse_config(std::string_view json) {
  auto p = BERTH_TRY(js::parse(json));
  ImageConfig c;
  BERTH_TRY(js::for_each_root_field(*p, [&](std::string_view k, value v) -> Result<void> {
    if (k == "architecture") return set_string(v, k, c.architecture);
    if (k == "os") return set_string(v, k, c.os);
    if (k == "variant") return set_string(v, k, c.variant);
    if (k == "os.version") return set_string(v, k, c.os_version);
    if (k == "created") return set_string(v, k, c.created);
    if (k == "author") return set_string(v, k, c.author);
    if (k == "docker_version") return set_string(v, k, c.docker_version);
    if (k == "comment") return set_string(v, k, c.comment);
    if (k == "config") {
      if (js::is_null(v)) return {};
      c.config_raw = BERTH_TRY(js::get_raw(v, k));
      // get_raw consumed the value; parse the copy.
      auto inner = BERTH_TRY(js::parse(c.config_raw));
      js::od::value root;
      if (inner->doc.get_value().get(root) != simdjson::SUCCESS)
        return fail(Errc::invalid_argument, "invalid image config: config");
      c.config = BERTH_TRY(parse_run_config(root));
      return {};
    }
    if (k == "rootfs") {
      return js::for_each_field(v, k, [&](std::string_view rk, value rv) -> Result<void> {
        if (rk == "diff_ids") c.diff_ids = BERTH_TRY(js::get_string_array(rv, "rootfs.diff_ids"));
        return {};
      });
    }
    if (k == "history") {
      return each_element(v, k, [&](value item, size_t i) -> Result<void> {
        HistoryEntry h;
        std::string f = str_cat("history[", i, "]");
        BERTH_TRY(js::for_each_field(item, f, [&](std::string_view hk, value hv) -> Result<void> {
          if (hk == "created") return set_string(hv, f, h.created);
          if (hk == "created_by") return set_string(hv, f, h.created_by);
          if (hk == "author") return set_string(hv, f, h.author);
          if (hk == "comment") return set_string(hv, f, h.comment);
          if (hk == "empty_layer") {
            h.empty_layer = BERTH_TRY(js::get_bool(hv, f));
            return {};
          }
          return {};
        }));
        c.history.push_back(std::move(h));
        return {};
      });
    }
    return {};
  }));
  for (const auto& d : c.diff_ids)
    if (!d.starts_with("sha256:") || d.size() != 71 || !is_hex(std::string_view(d).substr(7)))
      return fail(Errc::invalid_argument, "invalid image config: bad diff ID " + d);
  return c;
}

void write_descriptor(std::string& out, const Descriptor& d) {
  js::Writer w(out);
  w.begin_object();
  w.kv("mediaType", d.media_type).kv("digest", d.digest).kv("size", static_cast<long long>(d.size));
  if (!d.annotations.empty()) {
    w.key("annotations").begin_object();
    for (const auto& [k, v] : d.annotations) w.kv(k, v);
    w.end_object();
  }
  if (d.platform) {
    w.key("platform").begin_object();
    w.kv("architecture", d.platform->architecture).kv("os", d.platform->os);
    if (!d.platform->os_version.empty()) w.kv("os.version", d.platform->os_version);
    if (!d.platform->variant.empty()) w.kv("variant", d.platform->variant);
    w.end_object();
  }
  w.end_object();
}

std::string write_manifest(const Manifest& m) {
  std::string out;
  js::Writer w(out);
  w.begin_object().kv("schemaVersion", m.schema_version);
  if (!m.media_type.empty()) w.kv("mediaType", m.media_type);
  std::string config;
  write_descriptor(config, m.config);
  w.key("config").raw(config);
  w.key("layers").begin_array();
  for (size_t i = 0; i < m.layers.size(); ++i) {
    std::string d;
    write_descriptor(d, m.layers[i]);
    w.raw(d);
  }
  w.end_array();
  if (!m.annotations.empty()) {
    w.key("annotations").begin_object();
    for (const auto& [k, v] : m.annotations) w.kv(k, v);
    w.end_object();
  }
  w.end_object();
  return out;
}

std::string write_index(const Index& idx) {
  std::string out;
  js::Writer w(out);
  w.begin_object().kv("schemaVersion", idx.schema_version);
  if (!idx.media_type.empty()) w.kv("mediaType", idx.media_type);
  w.key("manifests").begin_array();
  for (const auto& d : idx.manifests) {
    std::string s;
    write_descriptor(s, d);
    w.raw(s);
  }
  w.end_array();
  if (!idx.annotations.empty()) {
    w.key("annotations").begin_object();
    for (const auto& [k, v] : idx.annotations) w.kv(k, v);
    w.end_object();
  }
  w.end_object();
  return out;
}

int64_t parse_rfc3339(std::string_view s) {
  if (s.size() < 19) return 0;
  struct tm tm = {};
  std::string head(s.substr(0, 19));
  if (!strptime(head.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  int64_t t = timegm(&tm);
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    rest = rest.substr(i);
  }
  if (rest.size() >= 6 && (rest[0] == '+' || rest[0] == '-')) {
    int h = (rest[1] - '0') * 10 + (rest[2] - '0');
    int m = (rest[4] - '0') * 10 + (rest[5] - '0');
    int off = (h * 3600 + m * 60) * (rest[0] == '+' ? 1 : -1);
    t -= off;
  }
  return t;
}

std::string format_rfc3339(int64_t sec, uint32_t nsec) {
  time_t t = static_cast<time_t>(sec);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  if (nsec == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else {
    // Go's RFC3339Nano: trailing zeros of the fraction dropped.
    char frac[16];
    std::snprintf(frac, sizeof frac, "%09u", nsec);
    std::string f(frac);
    while (!f.empty() && f.back() == '0') f.pop_back();
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%sZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f.c_str());
  }
  return buf;
}

}  // namespace berth::layers::image
