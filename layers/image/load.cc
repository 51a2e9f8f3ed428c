// ImageService::load — docker load of a docker-archive (manifest.json) or an
// OCI image layout (index.json), streamed.
//
// Every member of the outer archive is ingested into the content store as
// it arrives (hashed on the way). A member that looks like a layer (a tar,
// gzip or zstd stream) is handed to a pool of unpack workers as soon as it
// is stored, so layers unpack in parallel with each other and with the rest
// of the upload. Once the archive ends, the manifests say which members are
// configs and layers; each layer's diff ID must match its config, then each
// image is registered with its tags in one transaction.
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "core/base/json/reader.h"
#include "core/base/log.h"
#include "core/base/strings.h"
#include "layers/archive/tar_reader.h"
#include "layers/archive/whiteout.h"
#include "layers/image/service.h"

namespace berth::layers::image {

namespace {

constexpr size_t kKeepInMemory = 8 << 20;  // JSON members read back for parsing

bool looks_like_layer(std::string_view head) {
  auto c = archive::detect_compression(head);
  if (c == archive::Compression::gzip || c == archive::Compression::zstd) return true;
  return head.size() >= 263 && head.substr(257, 5) == "ustar";
}

// Speculative unpacks of members, run by a few workers while the upload goes on.
class UnpackPool {
 public:
  using Job = std::function<Result<ImageService::RegisteredLayer>()>;
  explicit UnpackPool(unsigned workers) {
    if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
  }
  ~UnpackPool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(const std::string& key, Job job) {
    {
      std::lock_guard lock(mu_);
      queue_.emplace_back(key, std::move(job));
    }
    cv_.notify_one();
  }
  // Waits for key's job; nullopt if it was never submitted.
  std::optional<Result<ImageService::RegisteredLayer>> wait(const std::string& key) {
    std::unique_lock lock(mu_);
    bool known = false;
    for (auto& q : queue_)
      if (q.first == key) known = true;
    if (!known && !running_.count(key) && !done_.count(key)) return std::nullopt;
    done_cv_.wait(lock, [&] { return done_.count(key) > 0; });
    return done_.at(key);
  }

 private:
  void run() {
    for (;;) {
      std::pair<std::string, Job> item;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        item = std::move(queue_.front());
        queue_.pop_front();
        running_.insert(item.first);
      }
      auto r = item.second();
      {
        std::lock_guard lock(mu_);
        running_.erase(item.first);
        done_.emplace(item.first, std::move(r));
      }
      done_cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<std::pair<std::string, Job>> queue_;
  std::set<std::string> running_;
  std::map<std::string, Result<ImageService::RegisteredLayer>> done_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

struct Member {
  content::Digest digest;
  uint64_t size = 0;
  std::string data;  // small members only
  bool layer_like = false;
};

// Collects the outer archive's members into the content store.
class OuterSink : public archive::TarSink {
 public:
  OuterSink(content::Store& cs, std::function<void(const std::string&, const Member&)> on_member)
      : cs_(cs), on_member_(std::move(on_member)) {}

  Result<void> on_entry(const archive::Entry& e) override {
    name_ = e.path;
    if (e.type == archive::EntryType::symlink || e.type == archive::EntryType::hardlink) {
      // docker save links duplicate layers to the first copy.
      std::string target = e.link_target;
      if (e.type == archive::EntryType::symlink) {
        std::string dir(archive::dir_name(e.path));
        std::string joined = target.starts_with("/") ? target.substr(1)
                             : dir.empty()           ? target
                                                     : dir + "/" + target;
        std::vector<std::string_view> parts;
        for (auto c : split(joined, '/')) {
          if (c.empty() || c == ".") continue;
          if (c == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
          }
          parts.push_back(c);
        }
        target.clear();
        for (size_t i = 0; i < parts.size(); ++i) {
          if (i) target.push_back('/');
          target.append(parts[i]);
        }
      }
      links_[e.path] = target;
      active_ = false;
      return {};
    }
    active_ = e.type == archive::EntryType::regular;
    if (!active_) return {};
    ingest_ = BERTH_TRY(cs_.begin_ingest());
    cur_ = Member{};
    head_.clear();
    return {};
  }
  Result<void> on_data(std::string_view d) override {
    if (!active_) return {};
    BERTH_TRY(ingest_->write(d));
    if (head_.size() < 512) head_.append(d.substr(0, 512 - head_.size()));
    if (cur_.size + d.size() <= kKeepInMemory) cur_.data.append(d);
    cur_.size += d.size();
    return {};
  }
  Result<void> on_entry_end() override {
    if (!active_) return {};
    active_ = false;
    cur_.digest = BERTH_TRY(ingest_->commit());
    ingest_.reset();
    if (cur_.size > kKeepInMemory) cur_.data.clear();
    cur_.layer_like = looks_like_layer(head_);
    if (cur_.layer_like) cur_.data.clear();  // read back from the blob if needed
    on_member_(name_, cur_);
    members_[name_] = std::move(cur_);
    return {};
  }

  const Member* find(std::string name) const {
    for (int hops = 0; hops < 8; ++hops) {
      if (auto it = members_.find(name); it != members_.end()) return &it->second;
      auto l = links_.find(name);
      if (l == links_.end()) return nullptr;
      name = l->second;
    }
    return nullptr;
  }
  const std::map<std::string, Member>& members() const { return members_; }

 private:
  content::Store& cs_;
  std::function<void(const std::string&, const Member&)> on_member_;
  std::optional<content::Ingest> ingest_;
  Member cur_;
  std::string head_;
  std::string name_;
  bool active_ = false;
  std::map<std::string, Member> members_;
  std::map<std::string, std::string> links_;
};

struct ImageEntry {
  std::string config_path;
  std::vector<std::string> layer_paths;
  std::vector<std::string> layer_media;  // from OCI manifests; may be empty
  std::vector<std::string> tags;         // full references
};

namespace js = berth::json;

Result<std::vector<ImageEntry>> parse_docker_manifest(std::string_view json) {
  std::vector<ImageEntry> out;
  auto p = BERTH_TRY(js::parse(json));
  js::od::array arr;
  if (p->doc.get_array().get(arr) != simdjson::SUCCESS)
    return fail(Errc::invalid_argument, "manifest.json: expected an array");
  size_t i = 0;
  for (auto el : arr) {
    js::od::value v;
    if (el.get(v) != simdjson::SUCCESS)
      return fail(Errc::invalid_argument, "manifest.json: bad entry");
    ImageEntry e;
    std::string f = str_cat("manifest.json[", i++, "]");
    BERTH_TRY(js::for_each_field(v, f, [&](std::string_view k, js::od::value fv) -> Result<void> {
      if (k == "Config")
        e.config_path = BERTH_TRY(js::get_string(fv, f + ".Config"));
      else if (k == "Layers")
        e.layer_paths = BERTH_TRY(js::get_string_array(fv, f + ".Layers"));
      else if (k == "RepoTags") {
        for (const auto& t : BERTH_TRY(js::get_string_array(fv, f + ".RepoTags"))) {
          auto ref = parse_reference(t);
          if (!ref) return std::unexpected(std::move(ref.error()).context(f + ".RepoTags"));
          e.tags.push_back(ref->str());
        }
      }
      return {};
    }));
    if (e.config_path.empty()) return fail(Errc::invalid_argument, f + ": no Config");
    out.push_back(std::move(e));
  }
  return out;
}

std::string blob_member(const std::string& digest) {
  std::string d = digest;
  if (auto c = d.find(':'); c != std::string::npos) d[c] = '/';
  return "blobs/" + d;
}

}  // namespace

Result<LoadResult> ImageService::load(const extract::Source& src, const Progress& progress) {
  return collect_on_failure(load_image(src, progress));
}

Result<LoadResult> ImageService::load_image(const extract::Source& src, const Progress& progress) {
  LoadResult result;
  {
    std::shared_lock gc_guard(gc_mu_);
    UnpackPool pool(opts_.unpack_parallel);
    OuterSink sink(*content_, [&](const std::string& name, const Member& m) {
      if (!m.layer_like) return;
      content::Digest d = m.digest;
      pool.submit(name, [this, d] { return unpack_blob(d, ""); });
    });
    archive::TarReader reader(sink);
    std::unique_ptr<char[]> buf(new char[1 << 20]);
    for (;;) {
      size_t n = BERTH_TRY(src(buf.get(), 1 << 20));
      if (n == 0) break;
      BERTH_TRY(with_context(reader.feed(std::string_view(buf.get(), n)), "read image archive"));
    }
    BERTH_TRY(with_context(reader.finish(), "read image archive"));

    auto text_of = [&](const std::string& path) -> Result<std::string> {
      const Member* m = sink.find(path);
      if (!m) return fail(Errc::invalid_argument, "image archive has no " + path);
      if (!m->data.empty() || m->size == 0) return m->data;
      return content_->read(m->digest);
    };

    std::vector<ImageEntry> entries;
    if (sink.find("manifest.json")) {
      entries = BERTH_TRY(parse_docker_manifest(BERTH_TRY(text_of("manifest.json"))));
    } else if (sink.find("index.json")) {
      Index idx =
          BERTH_TRY(with_context(parse_index(BERTH_TRY(text_of("index.json"))), "index.json"));
      std::deque<std::pair<Descriptor, std::vector<std::string>>> todo;
      for (const auto& d : idx.manifests) {
        std::vector<std::string> tags;
        std::string name;
        if (auto a = d.annotations.find("io.containerd.image.name"); a != d.annotations.end())
          name = a->second;
        else if (auto b = d.annotations.find("org.opencontainers.image.ref.name");
                 b != d.annotations.end() && (b->second.find('/') != std::string::npos ||
                                              b->second.find(':') != std::string::npos))
          name = b->second;
        if (!name.empty())
          if (auto ref = parse_reference(name)) tags.push_back(ref->str());
        todo.emplace_back(d, tags);
      }
      int guard = 0;
      while (!todo.empty() && ++guard < 1000) {
        auto [d, tags] = todo.front();
        todo.pop_front();
        std::string body = BERTH_TRY(text_of(blob_member(d.digest)));
        if (is_index_type(d.media_type) || (d.media_type.empty() && json_is_index(body))) {
          Index nested = BERTH_TRY(parse_index(body));
          // A multi-platform index: take this host's platform.
          const Descriptor* pick = nullptr;
          for (const auto& m : nested.manifests)
            if (!m.platform || (m.platform->os == "linux" && m.platform->architecture == "amd64")) {
              pick = &m;
              break;
            }
          if (!pick) return fail(Errc::not_found, "no linux/amd64 image in " + d.digest);
          todo.emplace_back(*pick, tags);
          continue;
        }
        Manifest m = BERTH_TRY(with_context(parse_manifest(body), "manifest " + d.digest));
        ImageEntry e;
        e.config_path = blob_member(m.config.digest);
        for (const auto& l : m.layers) {
          e.layer_paths.push_back(blob_member(l.digest));
          e.layer_media.push_back(l.media_type);
        }
        e.tags = tags;
        entries.push_back(std::move(e));
      }
    } else {
      return fail(Errc::invalid_argument,
                  "not an image archive: neither manifest.json nor index.json found");
    }

    for (const auto& e : entries) {
      std::string config = BERTH_TRY(text_of(e.config_path));
      ImageConfig cfg =
          BERTH_TRY(with_context(parse_config(config), "image config " + e.config_path));
      if (cfg.diff_ids.size() != e.layer_paths.size())
        return fail(Errc::invalid_argument,
                    str_cat("image config ", e.config_path, " lists ", cfg.diff_ids.size(),
                            " layers but the manifest has ", e.layer_paths.size()));
      std::vector<RegisteredLayer> regs;
      for (size_t i = 0; i < e.layer_paths.size(); ++i) {
        const std::string& lp = e.layer_paths[i];
        const Member* m = sink.find(lp);
        if (!m) return fail(Errc::invalid_argument, "image archive has no layer " + lp);
        std::string key;
        for (const auto& [name, mem] : sink.members())
          if (&mem == m) key = name;
        auto done = pool.wait(key);
        Result<RegisteredLayer> reg = done ? std::move(*done) : unpack_blob(m->digest, "");
        if (!reg) return std::unexpected(std::move(reg.error()).context("layer " + lp));
        if (reg->layer.diff_id != cfg.diff_ids[i])
          return fail(Errc::corrupt,
                      str_cat("layer ", lp, ": content digest ", reg->layer.diff_id,
                              " does not match the image config's diff ID ", cfg.diff_ids[i]));
        if (i < e.layer_media.size() && !e.layer_media[i].empty())
          reg->blob.media_type = e.layer_media[i];
        regs.push_back(std::move(*reg));
      }
      // Checked above with this archive's names; register_image checks again.
      std::string id = BERTH_TRY(register_image(config, regs, e.tags, {}));
      if (e.tags.empty()) {
        result.ids.push_back(id);
        if (progress) progress(str_cat("Loaded image ID: ", id, "\n"));
      }
      for (const auto& t : e.tags) {
        std::string fam = parse_reference(t).value().familiar();
        result.tags.push_back(fam);
        if (progress) progress(str_cat("Loaded image: ", fam, "\n"));
      }
    }
  }
  // Members that were not layers of a loaded image (configs, manifests,
  // stray files) are not kept.
  BERTH_TRY(gc());
  return result;
}

}  // namespace berth::layers::image
