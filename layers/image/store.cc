#include "layers/image/store.h"

#include <ctime>

#include "core/base/strings.h"
#include "layers/image/reference.h"

namespace berth::layers::image {

namespace {
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS images (
  id TEXT PRIMARY KEY,
  config BLOB NOT NULL,
  created INTEGER NOT NULL,
  size INTEGER NOT NULL,
  added INTEGER NOT NULL,
  parent TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS image_layers (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  diff_id TEXT NOT NULL,
  PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_by_diff ON image_layers(diff_id);
CREATE TABLE IF NOT EXISTS tags (
  name TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tags_by_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS repo_digests (
  name TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS layers (
  diff_id TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  tar_size INTEGER NOT NULL,
  added INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layer_blobs (
  blob TEXT PRIMARY KEY,
  diff_id TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS layer_blobs_by_diff ON layer_blobs(diff_id);
)sql";

int64_t now() {
  return static_cast<int64_t>(std::time(nullptr));
}

Error no_such_image(const std::string& name) {
  return Error{Errc::not_found, 0, "No such image: " + name};
}
}  // namespace

Result<std::unique_ptr<ImageStore>> ImageStore::open(db::Database& db) {
  BERTH_TRY(db.exec(kSchema));
  return std::unique_ptr<ImageStore>(new ImageStore(db));
}

Result<void> ImageStore::put(const ImageRecord& img, const std::vector<LayerRecord>& layers,
                             const std::vector<LayerBlob>& blobs,
                             const std::vector<std::string>& tags) {
  return db_.transaction([&]() -> Result<void> {
    int64_t t = now();
    for (const auto& l : layers) {
      auto st = BERTH_TRY(
          db_.prepare("INSERT INTO layers(diff_id, size, tar_size, added) VALUES(?1, ?2, ?3, ?4) "
                      "ON CONFLICT(diff_id) DO NOTHING"));
      st.bind(1, l.diff_id).bind(2, l.size).bind(3, l.tar_size).bind(4, t);
      BERTH_TRY(st.run());
    }
    for (const auto& b : blobs) {
      auto st = BERTH_TRY(db_.prepare(
          "INSERT INTO layer_blobs(blob, diff_id, media_type, size) VALUES(?1, ?2, ?3, ?4) "
          "ON CONFLICT(blob) DO NOTHING"));
      st.bind(1, b.blob).bind(2, b.diff_id).bind(3, b.media_type).bind(4, b.size);
      BERTH_TRY(st.run());
    }
    {
      auto st = BERTH_TRY(
          db_.prepare("INSERT INTO images(id, config, created, size, added, parent) VALUES(?1, ?2, "
                      "?3, ?4, ?5, ?6) "
                      "ON CONFLICT(id) DO UPDATE SET parent = CASE WHEN excluded.parent != '' "
                      "THEN excluded.parent ELSE images.parent END"));
      st.bind(1, img.id).bind_blob(2, img.config).bind(3, img.created).bind(4, img.size);
      st.bind(5, img.added ? img.added : t).bind(6, img.parent);
      BERTH_TRY(st.run());
    }
    {
      auto del = BERTH_TRY(db_.prepare("DELETE FROM image_layers WHERE image_id = ?1"));
      del.bind(1, img.id);
      BERTH_TRY(del.run());
      for (size_t i = 0; i < img.diff_ids.size(); ++i) {
        auto st = BERTH_TRY(db_.prepare(
            "INSERT INTO image_layers(image_id, position, diff_id) VALUES(?1, ?2, ?3)"));
        st.bind(1, img.id).bind(2, static_cast<int64_t>(i)).bind(3, img.diff_ids[i]);
        BERTH_TRY(st.run());
      }
    }
    for (const auto& tg : tags) {
      auto st =
          BERTH_TRY(db_.prepare("INSERT INTO tags(name, image_id) VALUES(?1, ?2) "
                                "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id"));
      st.bind(1, tg).bind(2, img.id);
      BERTH_TRY(st.run());
    }
    return {};
  });
}

Result<void> ImageStore::fill_names(ImageRecord& r) {
  {
    auto st = BERTH_TRY(db_.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name"));
    st.bind(1, r.id);
    while (BERTH_TRY(st.step())) r.repo_tags.push_back(st.text(0));
  }
  {
    auto st =
        BERTH_TRY(db_.prepare("SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name"));
    st.bind(1, r.id);
    while (BERTH_TRY(st.step())) r.repo_digests.push_back(st.text(0));
  }
  {
    auto st = BERTH_TRY(
        db_.prepare("SELECT diff_id FROM image_layers WHERE image_id = ?1 ORDER BY position"));
    st.bind(1, r.id);
    while (BERTH_TRY(st.step())) r.diff_ids.push_back(st.text(0));
  }
  return {};
}

Result<ImageRecord> ImageStore::load_row(db::Statement& st) {
  ImageRecord r;
  r.id = st.text(0);
  r.config = st.blob(1);
  r.created = st.int64(2);
  r.size = st.int64(3);
  r.added = st.int64(4);
  r.parent = st.text(5);
  BERTH_TRY(fill_names(r));
  return r;
}

Result<ImageRecord> ImageStore::get(const std::string& id) {
  db::Database::Lock lock(db_);
  auto st = BERTH_TRY(
      db_.prepare("SELECT id, config, created, size, added, parent FROM images WHERE id = ?1"));
  st.bind(1, id);
  if (!BERTH_TRY(st.step())) return std::unexpected(no_such_image(id));
  return load_row(st);
}

bool ImageStore::exists(const std::string& id) {
  db::Database::Lock lock(db_);
  auto st = db_.prepare("SELECT 1 FROM images WHERE id = ?1");
  if (!st) return false;
  st->bind(1, id);
  auto r = st->step();
  return r && *r;
}

Result<std::vector<ImageRecord>> ImageStore::list() {
  db::Database::Lock lock(db_);
  std::vector<ImageRecord> out;
  auto st = BERTH_TRY(db_.prepare(
      "SELECT id, config, created, size, added, parent FROM images ORDER BY created DESC, id"));
  while (BERTH_TRY(st.step())) out.push_back(BERTH_TRY(load_row(st)));
  return out;
}

Result<int64_t> ImageStore::count() {
  auto st = BERTH_TRY(db_.prepare("SELECT COUNT(*) FROM images"));
  BERTH_TRY(st.step());
  return st.int64(0);
}

Result<std::string> ImageStore::resolve(const std::string& name) {
  db::Database::Lock lock(db_);
  // A full image ID or "sha256:" + prefix.
  if (looks_like_id(name)) {
    std::string hex = name.starts_with("sha256:") ? name.substr(7) : name;
    auto st = BERTH_TRY(db_.prepare("SELECT id FROM images WHERE id >= ?1 AND id < ?2 LIMIT 2"));
    st.bind(1, "sha256:" + hex).bind(2, "sha256:" + hex + "\x7f");
    std::vector<std::string> hits;
    while (BERTH_TRY(st.step())) hits.push_back(st.text(0));
    if (hits.size() == 1) return hits[0];
    if (hits.size() > 1)
      return fail(Errc::invalid_argument, str_cat("short ID ", name, " is ambiguous"));
    if (name.starts_with("sha256:")) return std::unexpected(no_such_image(name));
  }
  auto ref = parse_reference(name);
  if (!ref) return std::unexpected(no_such_image(name));
  if (ref->has_digest()) {
    auto st = BERTH_TRY(db_.prepare("SELECT image_id FROM repo_digests WHERE name = ?1"));
    st.bind(1, ref->repository() + "@" + ref->digest);
    if (BERTH_TRY(st.step())) return st.text(0);
    // A digest of the image itself (its config) also names it.
    if (exists(ref->digest)) return ref->digest;
    return std::unexpected(no_such_image(name));
  }
  auto st = BERTH_TRY(db_.prepare("SELECT image_id FROM tags WHERE name = ?1"));
  st.bind(1, ref->str());
  if (BERTH_TRY(st.step())) return st.text(0);
  // As docker: the reference as it normalises it ("nosuch:latest").
  return std::unexpected(no_such_image(ref->familiar()));
}

Result<void> ImageStore::tag(const std::string& tag, const std::string& id) {
  auto st =
      BERTH_TRY(db_.prepare("INSERT INTO tags(name, image_id) VALUES(?1, ?2) "
                            "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id"));
  st.bind(1, tag).bind(2, id);
  return st.run();
}

Result<void> ImageStore::untag(const std::string& tag) {
  db::Database::Lock lock(db_);
  auto st = BERTH_TRY(db_.prepare("DELETE FROM tags WHERE name = ?1"));
  st.bind(1, tag);
  BERTH_TRY(st.run());
  if (db_.changes() == 0) return fail(Errc::not_found, "No such image: " + tag);
  return {};
}

Result<void> ImageStore::add_repo_digest(const std::string& ref, const std::string& id) {
  auto st =
      BERTH_TRY(db_.prepare("INSERT INTO repo_digests(name, image_id) VALUES(?1, ?2) "
                            "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id"));
  st.bind(1, ref).bind(2, id);
  return st.run();
}

Result<void> ImageStore::remove(const std::string& id) {
  return db_.transaction([&]() -> Result<void> {
    auto st = BERTH_TRY(db_.prepare("DELETE FROM images WHERE id = ?1"));
    st.bind(1, id);
    return st.run();
  });
}

Result<std::optional<LayerRecord>> ImageStore::layer(const std::string& diff_id) {
  auto st = BERTH_TRY(db_.prepare("SELECT diff_id, size, tar_size FROM layers WHERE diff_id = ?1"));
  st.bind(1, diff_id);
  if (!BERTH_TRY(st.step())) return std::optional<LayerRecord>();
  return std::optional<LayerRecord>(LayerRecord{st.text(0), st.int64(1), st.int64(2)});
}

Result<void> ImageStore::add_blob(const LayerBlob& b) {
  auto st = BERTH_TRY(
      db_.prepare("INSERT INTO layer_blobs(blob, diff_id, media_type, size) VALUES(?1, ?2, ?3, ?4) "
                  "ON CONFLICT(blob) DO NOTHING"));
  st.bind(1, b.blob).bind(2, b.diff_id).bind(3, b.media_type).bind(4, b.size);
  BERTH_TRY(st.run());
  return {};
}

Result<std::vector<LayerBlob>> ImageStore::blobs_for_layer(const std::string& diff_id) {
  std::vector<LayerBlob> out;
  auto st = BERTH_TRY(
      db_.prepare("SELECT blob, diff_id, media_type, size FROM layer_blobs WHERE diff_id = ?1"));
  st.bind(1, diff_id);
  while (BERTH_TRY(st.step())) out.push_back({st.text(0), st.text(1), st.text(2), st.int64(3)});
  return out;
}

Result<std::set<std::string>> ImageStore::referenced_layers() {
  std::set<std::string> out;
  auto st = BERTH_TRY(db_.prepare("SELECT DISTINCT diff_id FROM image_layers"));
  while (BERTH_TRY(st.step())) out.insert(st.text(0));
  return out;
}

Result<std::set<std::string>> ImageStore::referenced_blobs() {
  std::set<std::string> out;
  auto st = BERTH_TRY(db_.prepare(
      "SELECT blob FROM layer_blobs WHERE diff_id IN (SELECT diff_id FROM image_layers)"));
  while (BERTH_TRY(st.step())) out.insert(st.text(0));
  return out;
}

Result<std::vector<std::string>> ImageStore::drop_unreferenced_layers() {
  std::vector<std::string> gone;
  BERTH_TRY(db_.transaction([&]() -> Result<void> {
    auto st = BERTH_TRY(db_.prepare(
        "SELECT diff_id FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)"));
    while (BERTH_TRY(st.step())) gone.push_back(st.text(0));
    BERTH_TRY(
        db_.exec("DELETE FROM layer_blobs WHERE diff_id NOT IN (SELECT diff_id FROM image_layers);"
                 "DELETE FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers);"));
    return {};
  }));
  return gone;
}

Result<std::vector<std::string>> ImageStore::children(const std::string& id) {
  std::vector<std::string> out;
  auto st = BERTH_TRY(db_.prepare("SELECT id FROM images WHERE parent = ?1"));
  st.bind(1, id);
  while (BERTH_TRY(st.step())) out.push_back(st.text(0));
  return out;
}

}  // namespace berth::layers::image
