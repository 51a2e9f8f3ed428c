// Helpers for the layer, image and image-API tests: a snapshot of a
// directory tree (every attribute an extractor must get right) and its
// comparison; docker-archives made in memory (layers, configs, manifest);
// HTTP through curl on a unix socket; directory listings.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/base/strings.h"
#include "layers/archive/compression.h"
#include "layers/archive/digest.h"
#include "layers/archive/tar_writer.h"
#include "tests/testlib/testlib.h"

namespace berth::layers::testing {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline bool spit(const std::string& path, std::string_view data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(f);
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

inline bool have_tool(const std::string& tool) {
  return berth::testing::run_command("command -v " + tool + " >/dev/null").status == 0;
}

// Deterministic pseudo-random bytes (xorshift64*), cheap to make in bulk.
inline std::string pseudo_random(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  while (i < n) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545F4914F6CDD1Dull;
    for (int k = 0; k < 8 && i < n; ++k, ++i) out[i] = static_cast<char>(v >> (8 * k));
  }
  return out;
}

// Entries (names) of a directory, sorted; empty when it does not exist.
inline std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    out.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

inline bool path_exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

// --- tree snapshots --------------------------------------------------------------

struct Node {
  char type = '?';  // f d l c b p s
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  uint64_t size = 0;
  std::string content_hash;  // sha256 of a regular file's content
  std::string link;          // symlink target
  uint32_t dev_major = 0, dev_minor = 0;
  std::map<std::string, std::string> xattrs;
  ino_t ino = 0;
  nlink_t nlink = 0;
};

struct Tree {
  std::map<std::string, Node> nodes;  // "." is the root itself
  // Paths that share an inode (hardlink groups with more than one name).
  std::set<std::vector<std::string>> link_groups() const {
    std::map<ino_t, std::vector<std::string>> by_ino;
    for (const auto& [p, n] : nodes)
      if (n.type != 'd') by_ino[n.ino].push_back(p);
    std::set<std::vector<std::string>> out;
    for (auto& [ino, paths] : by_ino)
      if (paths.size() > 1) {
        std::sort(paths.begin(), paths.end());
        out.insert(paths);
      }
    return out;
  }
};

inline std::map<std::string, std::string> read_xattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  char names[8192];
  ssize_t n = ::llistxattr(path.c_str(), names, sizeof names);
  if (n <= 0) return out;
  for (ssize_t i = 0; i < n;) {
    std::string name(names + i);
    i += static_cast<ssize_t>(name.size()) + 1;
    char val[8192];
    ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), val, sizeof val);
    if (v >= 0) out[name] = std::string(val, static_cast<size_t>(v));
  }
  return out;
}

inline void snapshot_into(const std::string& root, const std::string& rel, Tree& t) {
  std::string full = rel == "." ? root : root + "/" + rel;
  struct stat st;
  if (::lstat(full.c_str(), &st) != 0) return;
  Node n;
  n.mode = st.st_mode & 07777;
  n.uid = st.st_uid;
  n.gid = st.st_gid;
  n.mtime_sec = st.st_mtim.tv_sec;
  n.mtime_nsec = st.st_mtim.tv_nsec;
  n.ino = st.st_ino;
  n.nlink = st.st_nlink;
  n.xattrs = read_xattrs(full);
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: {
      n.type = 'f';
      n.size = static_cast<uint64_t>(st.st_size);
      n.content_hash = archive::sha256(slurp(full)).hex();
      break;
    }
    case S_IFDIR: n.type = 'd'; break;
    case S_IFLNK: {
      n.type = 'l';
      char buf[4096];
      ssize_t k = ::readlink(full.c_str(), buf, sizeof buf);
      if (k >= 0) n.link.assign(buf, static_cast<size_t>(k));
      break;
    }
    case S_IFCHR:
      n.type = 'c';
      n.dev_major = major(st.st_rdev);
      n.dev_minor = minor(st.st_rdev);
      break;
    case S_IFBLK:
      n.type = 'b';
      n.dev_major = major(st.st_rdev);
      n.dev_minor = minor(st.st_rdev);
      break;
    case S_IFIFO: n.type = 'p'; break;
    case S_IFSOCK: n.type = 's'; break;
  }
  bool is_dir = n.type == 'd';
  t.nodes[rel] = std::move(n);
  if (!is_dir) return;
  for (const auto& name : list_dir(full))
    snapshot_into(root, rel == "." ? name : rel + "/" + name, t);
}

inline Tree snapshot(const std::string& root) {
  Tree t;
  snapshot_into(root, ".", t);
  return t;
}

inline std::string describe(const Node& n) {
  std::string x;
  for (const auto& [k, v] : n.xattrs) x += k + "(" + std::to_string(v.size()) + ") ";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "type=%c mode=%04o uid=%u gid=%u mtime=%lld.%09ld size=%llu dev=%u:%u", n.type,
                n.mode, n.uid, n.gid, static_cast<long long>(n.mtime_sec), n.mtime_nsec,
                static_cast<unsigned long long>(n.size), n.dev_major, n.dev_minor);
  return std::string(buf) + " link=" + n.link + " xattrs=" + x;
}

struct CompareOptions {
  bool mtime = true;
  bool symlink_mtime = true;
  bool root_meta = true;  // compare "." itself
  bool xattrs = true;
  std::set<std::string> ignore_mtime;  // paths whose mtime is not compared
};

// Every difference between two trees, one per line; empty when equal.
inline std::string compare_trees(const Tree& want, const Tree& got, CompareOptions o = {}) {
  std::string diffs;
  auto add = [&](const std::string& path, const std::string& what, const std::string& w,
                 const std::string& g) {
    diffs += path + ": " + what + " want " + w + ", got " + g + "\n";
  };
  for (const auto& [p, w] : want.nodes) {
    auto it = got.nodes.find(p);
    if (it == got.nodes.end()) {
      diffs += p + ": missing (want " + describe(w) + ")\n";
      continue;
    }
    const Node& g = it->second;
    if (p == "." && !o.root_meta) continue;
    if (w.type != g.type) {
      add(p, "type", std::string(1, w.type), std::string(1, g.type));
      continue;
    }
    char wm[16], gm[16];
    std::snprintf(wm, sizeof wm, "%04o", w.mode);
    std::snprintf(gm, sizeof gm, "%04o", g.mode);
    if (w.mode != g.mode && w.type != 'l') add(p, "mode", wm, gm);
    if (w.uid != g.uid) add(p, "uid", std::to_string(w.uid), std::to_string(g.uid));
    if (w.gid != g.gid) add(p, "gid", std::to_string(w.gid), std::to_string(g.gid));
    bool check_mtime = o.mtime && (w.type != 'l' || o.symlink_mtime) && !o.ignore_mtime.count(p);
    if (check_mtime && (w.mtime_sec != g.mtime_sec || w.mtime_nsec != g.mtime_nsec))
      add(p, "mtime", std::to_string(w.mtime_sec) + "." + std::to_string(w.mtime_nsec),
          std::to_string(g.mtime_sec) + "." + std::to_string(g.mtime_nsec));
    if (w.type == 'f') {
      if (w.size != g.size) add(p, "size", std::to_string(w.size), std::to_string(g.size));
      if (w.content_hash != g.content_hash) add(p, "content", w.content_hash, g.content_hash);
    }
    if (w.link != g.link) add(p, "symlink target", w.link, g.link);
    if (w.dev_major != g.dev_major || w.dev_minor != g.dev_minor)
      add(p, "device", str_cat(w.dev_major, ":", w.dev_minor),
          str_cat(g.dev_major, ":", g.dev_minor));
    if (o.xattrs && w.xattrs != g.xattrs) add(p, "xattrs", describe(w), describe(g));
  }
  for (const auto& [p, g] : got.nodes)
    if (!want.nodes.count(p)) diffs += p + ": unexpected (" + describe(g) + ")\n";
  auto wg = want.link_groups(), gg = got.link_groups();
  if (wg != gg) {
    auto show = [](const std::set<std::vector<std::string>>& s) {
      std::string out;
      for (const auto& g : s) str_append(out, "[", join(g, " "), "] ");
      return out;
    };
    diffs += "hardlink groups: want " + show(wg) + ", got " + show(gg) + "\n";
  }
  return diffs;
}

// --- layers and docker-archives in memory -------------------------------------

using archive::Entry;
using archive::EntryType;

inline Entry file_entry(std::string path, uint32_t mode = 0644) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::regular;
  e.mode = mode;
  e.mtime = {1700000000, 0};
  return e;
}
inline Entry dir_entry(std::string path, uint32_t mode = 0755) {
  Entry e = file_entry(std::move(path), mode);
  e.type = EntryType::directory;
  return e;
}
inline Entry link_entry(std::string path, std::string target, bool hard = false) {
  Entry e = file_entry(std::move(path), 0777);
  e.type = hard ? EntryType::hardlink : EntryType::symlink;
  e.link_target = std::move(target);
  return e;
}

using Members = std::vector<std::pair<Entry, std::string>>;

inline std::string make_tar(const Members& members) {
  std::string out;
  archive::TarWriter w([&](std::string_view b) -> Result<void> {
    out.append(b);
    return {};
  });
  for (const auto& [e, content] : members) {
    auto r = w.add_file(e, content);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
  }
  EXPECT_TRUE(w.finish());
  return out;
}

struct Layer {
  std::string blob;     // as stored (compressed or not)
  std::string diff_id;  // sha256 of the uncompressed tar
  std::string digest;   // sha256 of blob
};

inline Layer make_layer(const std::string& tar,
                        archive::Compression c = archive::Compression::gzip) {
  Layer l;
  l.diff_id = archive::sha256(tar).to_string();
  if (c == archive::Compression::none) {
    l.blob = tar;
  } else {
    auto z = archive::compress(tar, c);
    EXPECT_TRUE(z);
    l.blob = z ? *z : std::string();
  }
  l.digest = archive::sha256(l.blob).to_string();
  return l;
}

struct ImageSpec {
  std::vector<Layer> layers;
  std::vector<std::string> tags;  // RepoTags in manifest.json
  std::string created = "2024-01-01T00:00:00Z";
  std::map<std::string, std::string> labels;
  std::vector<std::string> cmd = {"/bin/sh"};
  // Replaces a diff ID in the config (to make a mismatch); empty: the real ones.
  std::vector<std::string> diff_ids_override;
};

inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

inline std::string config_json(const ImageSpec& s) {
  std::string labels = "{";
  for (const auto& [k, v] : s.labels) {
    if (labels.size() > 1) labels += ",";
    str_append(labels, json_string(k), ":", json_string(v));
  }
  labels += "}";
  std::string cmd = "[";
  for (const auto& c : s.cmd) str_append(cmd, cmd.size() > 1 ? "," : "", json_string(c));
  cmd += "]";
  std::string diffs = "[";
  const auto* ids = &s.diff_ids_override;
  std::vector<std::string> real;
  for (const auto& l : s.layers) real.push_back(l.diff_id);
  if (ids->empty()) ids = &real;
  for (const auto& d : *ids) str_append(diffs, diffs.size() > 1 ? "," : "", json_string(d));
  diffs += "]";
  std::string history = "[";
  for (size_t i = 0; i < s.layers.size(); ++i)
    str_append(history, i ? "," : "", "{\"created\":", json_string(s.created),
               ",\"created_by\":\"test layer ", i, "\"}");
  history += "]";
  return str_cat(
      "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":", json_string(s.created),
      ",\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":", cmd, ",\"Labels\":", labels,
      "},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":", diffs, "},\"history\":", history, "}");
}

inline std::string image_id(const ImageSpec& s) {
  return archive::sha256(config_json(s)).to_string();
}

// A docker-archive (manifest.json + blobs/sha256/...) holding the images.
// extra: more members appended before the end (hostile additions).
inline std::string make_docker_archive(const std::vector<ImageSpec>& images,
                                       const Members& extra = {}) {
  Members m;
  std::set<std::string> seen;
  auto blob_entry = [&](const std::string& digest, const std::string& data) {
    std::string path = "blobs/sha256/" + digest.substr(7);
    if (seen.insert(path).second) m.emplace_back(file_entry(path), data);
    return path;
  };
  m.emplace_back(dir_entry("blobs"), "");
  m.emplace_back(dir_entry("blobs/sha256"), "");
  std::string manifest = "[";
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& img = images[i];
    std::string cfg = config_json(img);
    std::string cfg_path = blob_entry(archive::sha256(cfg).to_string(), cfg);
    std::string layers = "[";
    for (const auto& l : img.layers)
      str_append(layers, layers.size() > 1 ? "," : "", json_string(blob_entry(l.digest, l.blob)));
    layers += "]";
    std::string tags = "[";
    for (const auto& t : img.tags) str_append(tags, tags.size() > 1 ? "," : "", json_string(t));
    tags += "]";
    str_append(manifest, i ? "," : "", "{\"Config\":", json_string(cfg_path),
               ",\"RepoTags\":", tags, ",\"Layers\":", layers, "}");
  }
  manifest += "]";
  for (const auto& e : extra) m.push_back(e);
  m.emplace_back(file_entry("manifest.json"), manifest);
  return make_tar(m);
}

// A small one-layer image with a distinct file.
inline ImageSpec small_image(const std::string& tag, const std::string& marker) {
  ImageSpec s;
  Members files;
  files.emplace_back(dir_entry("etc"), "");
  files.emplace_back(file_entry("etc/marker"), marker);
  files.emplace_back(file_entry("etc/data", 0600), pseudo_random(5000, marker.size() + 7));
  s.layers.push_back(make_layer(make_tar(files)));
  if (!tag.empty()) s.tags.push_back(tag);
  return s;
}

// --- HTTP through curl ----------------------------------------------------------

struct HttpResult {
  int status = 0;
  std::string body;
};

// method path [body file]; path includes the query.
inline HttpResult http(const std::string& socket, const std::string& method,
                       const std::string& path, const std::string& body_file = "",
                       const std::string& content_type = "application/x-tar") {
  std::string cmd = "curl -sS --max-time 120 --unix-socket " + shell_quote(socket) + " -X " +
                    method + " -w '\\n%{http_code}' ";
  if (!body_file.empty())
    cmd += "-H " + shell_quote("Content-Type: " + content_type) + " --data-binary @" +
           shell_quote(body_file) + " ";
  cmd += shell_quote("http://localhost" + path);
  auto r = berth::testing::run_command(cmd);
  HttpResult out;
  size_t nl = r.output.rfind('\n');
  if (nl == std::string::npos) {
    out.body = r.output;
    return out;
  }
  out.status = std::atoi(r.output.c_str() + nl + 1);
  out.body = r.output.substr(0, nl);
  return out;
}

// Blob digests (hex) in ROOT/content/blobs/sha256.
inline std::vector<std::string> blobs_of(const std::string& root) {
  return list_dir(root + "/content/blobs/sha256");
}

}  // namespace berth::layers::testing
