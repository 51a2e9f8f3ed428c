// ContainerManager: create, lookup, rename, update, remove, recovery.
// (start, stop and the watchers are in lifecycle.cc.)
#include "core/container/manager.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/cgroup/hierarchy.h"
#include "core/runtime/caps.h"
#include "core/runtime/rootfs.h"
#include "core/runtime/seccomp_cache.h"
#include "core/sys/host.h"
#include "io/pool.h"
#include "layers/image/oci.h"
#include "layers/snapshot/layer_store.h"

namespace berth::core::container {

namespace fs = std::filesystem;
namespace img = layers::image;

namespace {

// Below ROOT/containers: removed containers' trees waiting to be deleted.
constexpr const char* kRemovedDir = ".removed";

std::string random_hex(size_t bytes) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::string out;
  while (out.size() < bytes * 2) {
    uint64_t v = rng();
    out += to_hex(reinterpret_cast<const unsigned char*>(&v), 8);
  }
  out.resize(bytes * 2);
  return out;
}

bool valid_name(std::string_view n) {
  static const std::regex re("^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
  return std::regex_match(n.begin(), n.end(), re);
}

Result<void> write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) return fail(Errc::io, "write " + path);
  return {};
}

bool is_loopback_nameserver(std::string_view ip) {
  return ip.starts_with("127.") || ip == "::1";
}

std::string make_resolv_conf(const HostConfig& h, bool host_network) {
  std::string host = sys::read_small_file("/etc/resolv.conf");
  std::vector<std::string> servers, search, options;
  for (std::string_view line : split(host, '\n')) {
    line = trim(line);
    if (line.starts_with("nameserver")) {
      std::string ip(trim(line.substr(10)));
      if (host_network || !is_loopback_nameserver(ip)) servers.push_back(ip);
    } else if (line.starts_with("search")) {
      for (auto s : split(trim(line.substr(6)), ' '))
        if (!trim(s).empty()) search.emplace_back(trim(s));
    } else if (line.starts_with("options")) {
      for (auto s : split(trim(line.substr(7)), ' '))
        if (!trim(s).empty()) options.emplace_back(trim(s));
    }
  }
  // As docker: only loopback resolvers on the host (unreachable from a
  // network namespace of the container's own) fall back to public ones.
  if (servers.empty() && !host_network) servers = {"8.8.8.8", "8.8.4.4"};
  if (!h.dns.empty()) servers = h.dns;
  if (!h.dns_search.empty()) search = h.dns_search;
  if (!h.dns_options.empty()) options = h.dns_options;
  std::string out;
  if (!search.empty()) out += "search " + join(search, " ") + "\n";
  for (const auto& s : servers) out += "nameserver " + s + "\n";
  if (!options.empty()) out += "options " + join(options, " ") + "\n";
  return out;
}

std::string make_hosts(const HostConfig& h, bool host_network) {
  std::string out;
  if (host_network) {
    out = sys::read_small_file("/etc/hosts");
  } else {
    out =
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n";
  }
  for (const auto& e : h.extra_hosts) {
    auto kv = split_once(e, ':');
    if (kv) out += str_cat(kv->second, "\t", kv->first, "\n");
  }
  return out;
}

void set_env(std::vector<std::string>& env, std::string_view kv) {
  auto key = kv.substr(0, kv.find('='));
  for (auto& e : env)
    if (std::string_view(e).substr(0, e.find('=')) == key) {
      e = std::string(kv);
      return;
    }
  env.emplace_back(kv);
}

}  // namespace

std::string ContainerManager::unique_name() {
  static const char* adjectives[] = {
      "admiring",  "agitated",      "amazing",   "angry",       "awesome",    "blissful",
      "bold",      "boring",        "brave",     "busy",        "charming",   "clever",
      "cool",      "compassionate", "confident", "dazzling",    "determined", "eager",
      "ecstatic",  "elastic",       "elated",    "elegant",     "epic",       "exciting",
      "fervent",   "festive",       "focused",   "friendly",    "frosty",     "funny",
      "gallant",   "gifted",        "goofy",     "gracious",    "happy",      "hardcore",
      "heuristic", "hopeful",       "hungry",    "infallible",  "inspiring",  "jolly",
      "jovial",    "keen",          "kind",      "laughing",    "loving",     "lucid",
      "magical",   "modest",        "musing",    "mystifying",  "naughty",    "nervous",
      "nice",      "nifty",         "nostalgic", "objective",   "optimistic", "peaceful",
      "pedantic",  "pensive",       "practical", "priceless",   "quirky",     "quizzical",
      "relaxed",   "reverent",      "romantic",  "sad",         "serene",     "sharp",
      "silly",     "sleepy",        "stoic",     "strange",     "suspicious", "sweet",
      "tender",    "thirsty",       "trusting",  "upbeat",      "vibrant",    "vigilant",
      "vigorous",  "wizardly",      "wonderful", "xenodochial", "youthful",   "zealous",
      "zen"};
  static const char* names[] = {
      "agnesi",   "albattani", "allen",         "archimedes", "ardinghelli", "babbage",
      "banach",   "bardeen",   "bartik",        "bell",       "bhabha",      "blackwell",
      "bohr",     "booth",     "borg",          "bose",       "brown",       "burnell",
      "carson",   "cerf",      "chandrasekhar", "curie",      "darwin",      "diffie",
      "dijkstra", "einstein",  "elion",         "engelbart",  "euclid",      "euler",
      "fermat",   "fermi",     "feynman",       "franklin",   "galileo",     "gauss",
      "goldberg", "goodall",   "hamilton",      "hawking",    "heisenberg",  "hodgkin",
      "hopper",   "hypatia",   "jackson",       "jennings",   "johnson",     "kalam",
      "kepler",   "khorana",   "knuth",         "kowalevski", "lamarr",      "lamport",
      "leakey",   "lovelace",  "lumiere",       "mayer",      "mccarthy",    "mcclintock",
      "meitner",  "mendel",    "morse",         "napier",     "newton",      "nobel",
      "noether",  "pascal",    "pasteur",       "payne",      "perlman",     "pike",
      "poincare", "ptolemy",   "raman",         "ritchie",    "rosalind",    "saha",
      "sammet",   "shannon",   "shockley",      "sinoussi",   "stallman",    "swartz",
      "tesla",    "thompson",  "torvalds",      "turing",     "volhard",     "wescoff",
      "wilbur",   "williams",  "wilson",        "wing",       "wozniak",     "wright",
      "yalow",    "yonath"};
  static thread_local std::mt19937_64 rng(std::random_device{}());
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::string n = str_cat("/", adjectives[rng() % std::size(adjectives)], "_",
                            names[rng() % std::size(names)]);
    if (attempt > 5) n += std::to_string(rng() % 10);
    std::lock_guard lock(mu_);
    if (!by_name_.count(n)) return n;
  }
  return "/" + random_hex(6);
}

Result<std::unique_ptr<ContainerManager>> ContainerManager::open(
    ManagerOptions opts, db::Database& db, layers::image::ImageService& images,
    std::unique_ptr<cgroup::Manager> cgroups) {
  std::unique_ptr<ContainerManager> m(new ContainerManager());
  m->opts_ = std::move(opts);
  m->db_ = &db;
  m->images_ = &images;
  m->cgroups_ = std::move(cgroups);
  m->store_ = BERTH_TRY(ContainerStore::open(db));
  m->netns_pool_ = std::make_unique<runtime::NetnsPool>(m->opts_.netns_pool);
  m->netns_pool_->fill();
  std::error_code ec;
  fs::create_directories(m->opts_.root + "/containers", ec);
  if (ec) return fail(Errc::io, "create containers directory: " + ec.message());
  ::chmod((m->opts_.root + "/containers").c_str(), 0710);

  // A daemon that stopped (or crashed) left its containers' processes gone
  // or orphaned without their pipes: kill what is left, mark them exited.
  std::set<std::string> known;
  for (auto& c : BERTH_TRY(m->store_->load_all())) {
    known.insert(c->id);
    if (c->state.running()) {
      auto mgr = m->cgroups_for(*c);
      auto cg = mgr ? (*mgr)->open(c->id) : std::unexpected(mgr.error());
      if (cg) {
        (void)(*cg)->kill_all(SIGKILL);
        (void)(*cg)->destroy();
      }
      c->state.status = Status::exited;
      c->state.exit_code = 255;
      c->state.pid = 0;
      c->state.finished_at = static_cast<int64_t>(std::time(nullptr)) * 1000000000ll;
      c->state.error = "the daemon stopped while the container was running";
      (void)m->store_->save_state(c->id, c->state);
      log::info("container ", c->short_id(), " was running when berthd stopped: marked exited");
    }
    c->dir = m->opts_.root + "/containers/" + c->id;
    c->hostname_path = c->dir + "/hostname";
    c->hosts_path = c->dir + "/hosts";
    c->resolv_path = c->dir + "/resolv.conf";
    c->log_dir = c->dir + "/logs";
    m->by_name_[c->name] = c->id;
    m->by_id_[c->id] = std::move(c);
  }
  // Cgroups of our containers whose process is gone, and of containers of
  // this root nobody knows (a crash between create and insert). Others under
  // the parent may belong to another daemon sharing it: left alone.
  auto leftovers = m->cgroups_->list();
  for (const auto& name : leftovers ? *leftovers : std::vector<std::string>{}) {
    if (known.count(name)) {
      if (auto cg = m->cgroups_->open(name)) (void)(*cg)->destroy();
      continue;
    }
    if (fs::exists(m->opts_.root + "/containers/" + name, ec) ||
        fs::exists(m->opts_.root + "/containers/" + kRemovedDir + "/" + name, ec))
      (void)m->cgroups_->remove(name);
  }
  // Directories of containers that never made it into the database.
  for (const auto& e : fs::directory_iterator(m->opts_.root + "/containers", ec)) {
    std::string id = e.path().filename().string();
    if (!known.count(id)) (void)layers::snapshot::remove_tree(e.path().string());
  }
  return m;
}

ContainerManager::~ContainerManager() {
  drain_cleanup();
}

Result<std::shared_ptr<const ContainerManager::ImageInfo>> ContainerManager::image_info(
    const std::string& image_id) {
  {
    std::lock_guard lock(image_cache_mu_);
    if (auto it = image_cache_.find(image_id); it != image_cache_.end()) return it->second;
  }
  img::ImageRecord image = BERTH_TRY(images_->images().get(image_id));
  auto info = std::make_shared<ImageInfo>();
  info->config = BERTH_TRY(img::parse_config(image.config));
  for (auto it = image.diff_ids.rbegin(); it != image.diff_ids.rend(); ++it)
    info->layer_dirs.push_back(images_->layer_dir(*it));
  std::lock_guard lock(image_cache_mu_);
  if (image_cache_.size() >= 64) image_cache_.clear();  // bounded; refilled on use
  image_cache_[image_id] = info;
  return std::shared_ptr<const ImageInfo>(info);
}

Result<cgroup::Manager*> ContainerManager::cgroups_for(const Container& c) {
  std::string parent;
  {
    std::lock_guard lock(c.mu);
    parent = c.host.cgroup_parent;
  }
  if (parent.empty()) return cgroups_.get();
  std::lock_guard lock(custom_cgroups_mu_);
  auto it = custom_cgroups_.find(parent);
  if (it != custom_cgroups_.end()) return it->second.get();
  cgroup::ManagerOptions o = opts_.cgroup_options;
  o.parent = parent;
  o.spares = 0;
  auto m = BERTH_TRY(with_context(cgroup::Manager::detect(o), "cgroup parent " + parent));
  return custom_cgroups_.emplace(parent, std::move(m)).first->second.get();
}

void ContainerManager::cleanup_later(std::function<void()> job) {
  {
    std::lock_guard lock(cleanup_mu_);
    cleanups_ += 1;
  }
  ContainerManager* self = this;
  auto run = [self, job = std::move(job)] {
    job();
    std::lock_guard lock(self->cleanup_mu_);
    if (--self->cleanups_ == 0) self->cleanup_cv_.notify_all();
  };
  io::BlockingPool::global().submit(std::move(run));
}

void ContainerManager::drain_cleanup() {
  std::unique_lock lock(cleanup_mu_);
  cleanup_cv_.wait(lock, [this] { return cleanups_ == 0; });
}

Result<std::shared_ptr<Container>> ContainerManager::find(std::string_view ref) const {
  std::lock_guard lock(mu_);
  if (ref.empty()) return fail(Errc::not_found, "No such container: ");
  std::string name = ref.starts_with("/") ? std::string(ref) : "/" + std::string(ref);
  if (auto it = by_id_.find(std::string(ref)); it != by_id_.end()) return it->second;
  if (auto it = by_name_.find(name); it != by_name_.end()) return by_id_.at(it->second);
  if (is_hex(ref)) {
    std::shared_ptr<Container> hit;
    for (auto it = by_id_.lower_bound(std::string(ref));
         it != by_id_.end() && it->first.starts_with(ref); ++it) {
      if (hit)
        return fail(Errc::invalid_argument,
                    str_cat("multiple IDs found with provided prefix: ", ref));
      hit = it->second;
    }
    if (hit) return hit;
  }
  return fail(Errc::not_found, str_cat("No such container: ", ref));
}

std::vector<std::shared_ptr<Container>> ContainerManager::list() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Container>> out;
  for (const auto& [id, c] : by_id_) out.push_back(c);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a->created > b->created; });
  return out;
}

bool ContainerManager::image_in_use(const std::string& image_id) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, c] : by_id_)
    if (c->image_id == image_id) return true;
  return false;
}

ContainerManager::Counts ContainerManager::counts() const {
  Counts n;
  for (const auto& c : list()) {
    std::lock_guard lock(c->mu);
    ++n.total;
    if (c->state.status == Status::paused)
      ++n.paused;
    else if (c->state.running())
      ++n.running;
    else
      ++n.stopped;
  }
  return n;
}

Result<std::shared_ptr<Container>> ContainerManager::create(CreateRequest req, std::string name,
                                                            std::vector<std::string>* warnings) {
  Config& cfg = req.config;
  HostConfig& h = req.host;
  if (!name.empty()) {
    if (!valid_name(name))
      return fail(Errc::invalid_argument, str_cat("Invalid container name (", name,
                                                  "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
    if (!name.starts_with("/")) name = "/" + name;
    std::lock_guard lock(mu_);
    if (auto it = by_name_.find(name); it != by_name_.end())
      return fail(Errc::conflict, str_cat("Conflict. The container name \"", name,
                                          "\" is already in use by container \"", it->second,
                                          "\". You have to remove (or rename) that container to be "
                                          "able to reuse that name."));
  } else {
    name = unique_name();
  }
  if (cfg.image.empty()) return fail(Errc::invalid_argument, "No image was specified");
  std::string image_id = BERTH_TRY(images_->images().resolve(cfg.image));
  std::shared_ptr<const ImageInfo> info = BERTH_TRY(image_info(image_id));
  const img::ImageConfig& ic = info->config;

  // --- HostConfig checks, in docker's words where docker has them ---------------
  std::string net = h.network_mode;
  if (net.empty() || net == "default") net = "bridge";
  if (net != "bridge" && net != "host" && net != "none")
    return fail(Errc::not_implemented,
                str_cat("network mode \"", h.network_mode,
                        "\" is not implemented in berth yet (bridge, host and none are)"));
  if (net == "bridge" && warnings)
    warnings->push_back(
        "bridge networking is not available in berth yet: the container gets its own network "
        "namespace with only loopback up");
  if (!h.port_bindings_raw.empty() && h.port_bindings_raw != "{}" &&
      h.port_bindings_raw != "null" && warnings)
    warnings->push_back(net == "host" ? "Published ports are discarded when using host network mode"
                                      : "port publishing is not available in berth yet: published "
                                        "ports are not reachable");
  if (!h.cgroup_parent.empty()) {
    auto p = cgroup::containers_parent("/", h.cgroup_parent);
    if (!p) return fail(Errc::invalid_argument, "HostConfig.CgroupParent: " + p.error().message);
  }
  if (h.auto_remove && !h.restart_policy.name.empty() && h.restart_policy.name != "no")
    return fail(Errc::invalid_argument, "can't create 'AutoRemove' container with restart policy");
  const std::string& rp = h.restart_policy.name;
  if (!rp.empty() && rp != "no" && rp != "always" && rp != "unless-stopped" && rp != "on-failure")
    return fail(Errc::invalid_argument, str_cat("invalid restart policy '", rp, "'"));
  if (rp != "on-failure" && h.restart_policy.maximum_retry_count != 0)
    return fail(Errc::invalid_argument,
                "maximum retry count cannot be used with restart policy '" + rp + "'");
  if (h.memory != 0 && h.memory < 6 * 1024 * 1024)
    return fail(Errc::invalid_argument, "Minimum memory limit allowed is 6MB");
  if (h.memory_swap > 0 && h.memory > 0 && h.memory_swap < h.memory)
    return fail(Errc::invalid_argument,
                "Minimum memoryswap limit should be larger than memory limit, see usage");
  if (h.nano_cpus > 0 && (h.cpu_period > 0 || h.cpu_quota > 0))
    return fail(Errc::invalid_argument,
                "Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (h.nano_cpus < 0)
    return fail(Errc::invalid_argument, "Range of CPUs is from 0.01 to the number of CPUs");
  if (!h.devices_raw.empty() && h.devices_raw != "[]" && h.devices_raw != "null")
    return fail(Errc::not_implemented,
                "device mappings (--device) are not implemented in berth yet");
  if (!h.userns_mode.empty() && h.userns_mode != "host")
    return fail(Errc::not_implemented,
                "user namespaces (--userns) are not implemented in berth yet");
  for (const std::string* mode : {&h.ipc_mode, &h.pid_mode, &h.uts_mode})
    if (!mode->empty() && *mode != "private" && *mode != "shareable" && *mode != "host")
      return fail(Errc::not_implemented,
                  str_cat("namespace mode \"", *mode, "\" is not implemented in berth yet"));
  if (!h.volumes_from.empty())
    return fail(Errc::not_implemented, "--volumes-from is not implemented in berth yet");
  for (const auto& m : h.mounts)
    if (m.type != "bind" && m.type != "tmpfs")
      return fail(Errc::not_implemented,
                  str_cat("mounts of type \"", m.type, "\" are not implemented in berth yet"));
  for (const auto& b : h.binds) {
    auto parts = split(b, ':');
    if (parts.size() < 2 || parts[0].empty() || parts[1].empty())
      return fail(Errc::invalid_argument, str_cat("invalid volume specification: '", b, "'"));
    if (!parts[0].starts_with("/"))
      return fail(Errc::not_implemented, str_cat("named volumes are not implemented in berth yet (",
                                                 b, "): bind a host path instead"));
    if (!parts[1].starts_with("/"))
      return fail(Errc::invalid_argument,
                  str_cat("invalid volume specification: '", b, "': mount path must be absolute"));
  }
  for (const auto& [path, opts] : h.tmpfs) {
    runtime::TmpfsOptions o;
    std::string err;
    if (!path.starts_with("/"))
      return fail(Errc::invalid_argument, "invalid mount path for tmpfs: " + path);
    if (!runtime::parse_tmpfs_options(opts, &o, &err)) return fail(Errc::invalid_argument, err);
  }
  // Capabilities must name real ones.
  BERTH_TRY(runtime::tweak_capabilities(runtime::default_capabilities(), h.cap_add, h.cap_drop,
                                        h.privileged));
  for (const auto& so : h.security_opt) {
    if (so == "no-new-privileges" || so.starts_with("no-new-privileges=") ||
        so.starts_with("no-new-privileges:") || so.starts_with("seccomp=") ||
        so.starts_with("seccomp:") || so == "apparmor=unconfined" || so == "label=disable" ||
        so.starts_with("label:disable"))
      continue;
    if (so.starts_with("apparmor=") || so.starts_with("label"))
      return fail(Errc::not_implemented,
                  str_cat("security option \"", so,
                          "\" is not supported: berth has no AppArmor or SELinux support"));
    return fail(Errc::invalid_argument, str_cat("invalid --security-opt: \"", so, "\""));
  }
  // Ulimits: never above what this daemon may grant (no CAP_SYS_RESOURCE).
  for (const auto& u : h.ulimits) {
    static const std::map<std::string, int> names = {
        {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
        {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
        {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
        {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
        {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
        {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
        {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
        {"stack", RLIMIT_STACK}};
    auto it = names.find(u.name);
    if (it == names.end())
      return fail(Errc::invalid_argument, str_cat("invalid ulimit type: ", u.name));
    if (u.soft > u.hard)
      return fail(Errc::invalid_argument,
                  str_cat("ulimit soft limit must be less than or equal to hard limit: ", u.soft,
                          " > ", u.hard));
    rlimit cur;
    ::getrlimit(it->second, &cur);
    if (cur.rlim_max != RLIM_INFINITY &&
        (u.hard < 0 || static_cast<uint64_t>(u.hard) > cur.rlim_max))
      return fail(Errc::invalid_argument,
                  str_cat("ulimit ", u.name, ": hard limit ", u.hard,
                          " is above the daemon's own hard limit ", cur.rlim_max,
                          " (berthd cannot raise hard limits on this host)"));
  }

  // --- merge the image's defaults, as docker does -----------------------------------
  const img::RunConfig& ir = ic.config;
  if (cfg.user.empty()) cfg.user = ir.user;
  std::vector<std::string> env = ir.env;
  for (const auto& e : cfg.env) set_env(env, e);
  cfg.env = std::move(env);
  bool entrypoint_empty = !cfg.entrypoint || cfg.entrypoint->empty() ||
                          (cfg.entrypoint->size() == 1 && (*cfg.entrypoint)[0].empty());
  if (cfg.entrypoint && cfg.entrypoint->size() == 1 && (*cfg.entrypoint)[0].empty())
    cfg.entrypoint = std::vector<std::string>{};
  if (entrypoint_empty) {
    if (!cfg.cmd || cfg.cmd->empty()) {
      cfg.cmd = ir.cmd;
      cfg.args_escaped = ir.args_escaped;
    }
    if (!cfg.entrypoint) cfg.entrypoint = ir.entrypoint;
  }
  if (cfg.working_dir.empty()) cfg.working_dir = ir.working_dir;
  for (const auto& [k, v] : ir.labels)
    if (!cfg.labels.count(k)) cfg.labels[k] = v;
  for (const auto& p : ir.exposed_ports)
    if (std::find(cfg.exposed_ports.begin(), cfg.exposed_ports.end(), p) == cfg.exposed_ports.end())
      cfg.exposed_ports.push_back(p);
  for (const auto& v : ir.volumes)
    if (std::find(cfg.volumes.begin(), cfg.volumes.end(), v) == cfg.volumes.end())
      cfg.volumes.push_back(v);
  if (cfg.stop_signal.empty()) cfg.stop_signal = ir.stop_signal;
  if (!cfg.shell) cfg.shell = ir.shell;
  std::vector<std::string> argv;
  if (cfg.entrypoint) argv = *cfg.entrypoint;
  if (cfg.cmd) argv.insert(argv.end(), cfg.cmd->begin(), cfg.cmd->end());
  if (argv.empty()) return fail(Errc::invalid_argument, "No command specified");
  if (!cfg.working_dir.empty() && !cfg.working_dir.starts_with("/"))
    return fail(Errc::invalid_argument, str_cat("the working directory '", cfg.working_dir,
                                                "' is invalid, it needs to be an absolute path"));
  if (!cfg.volumes.empty() && warnings)
    warnings->push_back("the image or config declares volumes (" + join(cfg.volumes, ", ") +
                        "); berth does not create anonymous volumes yet, so they are part of the "
                        "container's writable layer");

  auto c = std::make_shared<Container>();
  c->id = random_hex(32);
  c->name = name;
  c->created = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  c->image_id = image_id;
  c->image_ref = cfg.image;
  c->path = argv[0];
  c->args.assign(argv.begin() + 1, argv.end());
  c->layer_dirs = info->layer_dirs;
  bool host_net = net == "host";
  if (cfg.hostname.empty())
    cfg.hostname = host_net ? sys::gather_host_info().hostname : c->id.substr(0, 12);
  if (h.network_mode.empty()) h.network_mode = "default";
  c->config = std::move(cfg);
  c->host = std::move(h);

  c->dir = opts_.root + "/containers/" + c->id;
  c->hostname_path = c->dir + "/hostname";
  c->hosts_path = c->dir + "/hosts";
  c->resolv_path = c->dir + "/resolv.conf";
  c->log_dir = c->dir + "/logs";
  // ROOT/containers exists (open() made it): one mkdir each.
  for (const char* sub : {"", "/upper", "/work", "/merged", "/logs"}) {
    std::string d = c->dir + sub;
    if (::mkdir(d.c_str(), 0755) != 0) {
      int e = errno;
      (void)layers::snapshot::remove_tree(c->dir);
      return sys_fail(e, "create " + d);
    }
  }
  std::string hn = c->config.hostname;
  if (!c->config.domainname.empty()) hn += "." + c->config.domainname;
  auto files = [&]() -> Result<void> {
    BERTH_TRY(write_file(c->hostname_path, c->config.hostname + "\n"));
    std::string hosts = make_hosts(c->host, host_net);
    if (!host_net)
      hosts += str_cat("127.0.1.1\t", hn, hn == c->config.hostname ? "" : " " + c->config.hostname,
                       "\n");
    BERTH_TRY(write_file(c->hosts_path, hosts));
    BERTH_TRY(write_file(c->resolv_path, make_resolv_conf(c->host, host_net)));
    return {};
  };
  if (auto r = files(); !r) {
    (void)layers::snapshot::remove_tree(c->dir);
    return std::unexpected(r.error());
  }
  {
    std::lock_guard lock(mu_);
    if (by_name_.count(c->name)) {
      (void)layers::snapshot::remove_tree(c->dir);
      return fail(Errc::conflict, str_cat("Conflict. The container name \"", c->name,
                                          "\" is already in use by container \"", by_name_[c->name],
                                          "\". You have to remove (or rename) "
                                          "that container to be able to reuse that name."));
    }
    by_name_[c->name] = c->id;
    by_id_[c->id] = c;
  }
  if (auto r = store_->insert(*c); !r) {
    std::lock_guard lock(mu_);
    by_name_.erase(c->name);
    by_id_.erase(c->id);
    (void)layers::snapshot::remove_tree(c->dir);
    return std::unexpected(r.error());
  }
  return c;
}

Result<void> ContainerManager::rename(const std::shared_ptr<Container>& c, std::string new_name) {
  if (!valid_name(new_name))
    return fail(Errc::invalid_argument, str_cat("Invalid container name (", new_name,
                                                "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
  if (!new_name.starts_with("/")) new_name = "/" + new_name;
  std::string old;
  {
    std::lock_guard lock(mu_);
    if (auto it = by_name_.find(new_name); it != by_name_.end()) {
      if (it->second == c->id) return {};
      return fail(Errc::conflict,
                  str_cat("Error when allocating new name: Conflict. The container name \"",
                          new_name, "\" is already in use by container \"", it->second,
                          "\". You have to remove (or rename) that container to be able to "
                          "reuse that name."));
    }
    std::lock_guard cl(c->mu);
    old = c->name;
    by_name_.erase(old);
    by_name_[new_name] = c->id;
    c->name = new_name;
  }
  auto r = store_->save_name(c->id, new_name);
  if (!r) {
    std::lock_guard lock(mu_);
    std::lock_guard cl(c->mu);
    by_name_.erase(new_name);
    by_name_[old] = c->id;
    c->name = old;
  }
  return r;
}

void ContainerManager::persist_state(const std::shared_ptr<Container>& c) {
  State s;
  {
    std::lock_guard lock(c->mu);
    if (c->removed) return;
    s = c->state;
  }
  if (auto r = store_->save_state(c->id, s); !r)
    log::warn("container ", c->short_id(), ": save state: ", r.error().message);
}

Result<void> ContainerManager::remove_files(const std::shared_ptr<Container>& c) {
  auto mnt_ns = std::make_shared<unique_fd>();
  {
    std::lock_guard lock(c->mu);
    c->log.reset();
    *mnt_ns = std::move(c->rt.mnt_ns);
  }
  BERTH_TRY(store_->remove(c->id));
  {
    std::lock_guard lock(mu_);
    by_name_.erase(c->name);
    by_id_.erase(c->id);
  }
  // One rename now; the tree (upper layer, logs) goes after the answer.
  std::string removed = str_cat(opts_.root, "/containers/", kRemovedDir);
  std::string trash = str_cat(removed, "/", c->id);
  if (::mkdir(removed.c_str(), 0700) != 0 && errno != EEXIST) {
    mnt_ns->reset();
    return layers::snapshot::remove_tree(c->dir);
  }
  if (::rename(c->dir.c_str(), trash.c_str()) != 0) {
    mnt_ns->reset();
    if (errno == ENOENT) return {};
    return layers::snapshot::remove_tree(c->dir);
  }
  auto job = [trash, mnt_ns] {
    mnt_ns->reset();  // its root is the overlay over the tree: unmounted first
    if (auto r = layers::snapshot::remove_tree(trash); !r)
      log::warn("remove ", trash, ": ", r.error().message);
  };
  cleanup_later(std::move(job));
  return {};
}

}  // namespace berth::core::container
