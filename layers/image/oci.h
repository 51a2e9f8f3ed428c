// Image formats: OCI and Docker v2 schema2 manifests, indexes (manifest
// lists) and image configs — parsed from JSON with simdjson and written back
// deterministically. Only the fields berth uses are typed; the container
// "config" object of an image config is also kept as its raw JSON text, so
// inspect shows exactly what the image author wrote.
// Plain values; thread-safe functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::layers::image {

namespace media {
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view oci_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view docker_layer_gzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view docker_foreign_gzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media

bool is_manifest_type(std::string_view mt);
bool is_index_type(std::string_view mt);
bool is_layer_type(std::string_view mt);

struct Platform {
  std::string os, architecture, variant, os_version;
};

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::optional<Platform> platform;
  std::map<std::string, std::string> annotations;
};

struct Manifest {
  int schema_version = 2;
  std::string media_type;  // may be empty in OCI manifests
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct Index {
  int schema_version = 2;
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
};

struct HistoryEntry {
  std::string created;  // RFC 3339
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
};

// The "config" member of an image config: the defaults for containers.
struct RunConfig {
  std::string user;
  std::vector<std::string> env;
  std::optional<std::vector<std::string>> cmd;         // null vs [] matters
  std::optional<std::vector<std::string>> entrypoint;  // null vs [] matters
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;  // "80/tcp"
  std::vector<std::string> volumes;
  std::string stop_signal;
  std::optional<std::vector<std::string>> shell;
  bool args_escaped = false;
};

struct ImageConfig {
  std::string architecture, os, variant, os_version;
  std::string created;  // RFC 3339, may be empty
  std::string author;
  std::string docker_version;
  std::vector<std::string> diff_ids;  // rootfs.diff_ids, "sha256:..."
  std::vector<HistoryEntry> history;
  RunConfig config;
  std::string config_raw;  // the "config" object's JSON text ("" when absent)
  std::string comment;
};

Result<Manifest> parse_manifest(std::string_view json);
Result<Index> parse_index(std::string_view json);
Result<ImageConfig> parse_config(std::string_view json);
// Is this JSON an index (manifest list) rather than a manifest? By mediaType,
// else by having "manifests".
bool json_is_index(std::string_view json);

// Deterministic JSON (fields in spec order, no whitespace).
std::string write_manifest(const Manifest& m);
std::string write_index(const Index& i);
void write_descriptor(std::string& out, const Descriptor& d);

// Seconds since the epoch of an RFC 3339 time; 0 when empty or malformed.
int64_t parse_rfc3339(std::string_view s);
std::string format_rfc3339(int64_t sec, uint32_t nsec = 0);

}  // namespace berth::layers::image
