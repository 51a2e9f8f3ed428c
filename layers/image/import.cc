// ImageService::import — docker import: one root filesystem archive becomes
// a one-layer image; --change instructions (CMD, ENTRYPOINT, ENV, EXPOSE,
// LABEL, ONBUILD, USER, VOLUME, WORKDIR) shape its container config.
#include <sys/time.h>

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "core/sys/host.h"
#include "layers/image/service.h"

namespace berth::layers::image {

namespace {

namespace js = berth::json;

// The parts of a container config that --change can set, with the rest of
// an existing config kept as raw JSON members.
struct ChangeableConfig {
  RunConfig run;
  std::vector<std::string> onbuild;
};

// JSON array form ["a", "b"], else nullopt.
std::optional<std::vector<std::string>> json_form(std::string_view args) {
  args = trim(args);
  if (!args.starts_with("[")) return std::nullopt;
  auto p = js::parse(args);
  if (!p) return std::nullopt;
  js::od::value v;
  if ((*p)->doc.get_value().get(v) != simdjson::SUCCESS) return std::nullopt;
  auto a = js::get_string_array(v, "");
  if (!a) return std::nullopt;
  return *a;
}

// Splits "k=v k2='v 2'" (or "k v" in the legacy one-pair form).
Result<std::vector<std::pair<std::string, std::string>>> key_values(std::string_view args,
                                                                    std::string_view what) {
  std::vector<std::pair<std::string, std::string>> out;
  args = trim(args);
  if (args.empty())
    return fail(Errc::invalid_argument, str_cat(what, " requires at least one argument"));
  size_t first_space = args.find_first_of(" \t");
  size_t first_eq = args.find('=');
  if (first_eq == std::string_view::npos ||
      (first_space != std::string_view::npos && first_space < first_eq)) {
    if (first_space == std::string_view::npos)
      return fail(Errc::invalid_argument, str_cat(what, " must have two arguments"));
    out.emplace_back(std::string(args.substr(0, first_space)),
                     std::string(trim(args.substr(first_space))));
    return out;
  }
  size_t i = 0;
  while (i < args.size()) {
    while (i < args.size() && (args[i] == ' ' || args[i] == '\t')) ++i;
    if (i >= args.size()) break;
    std::string key, val;
    while (i < args.size() && args[i] != '=' && args[i] != ' ') key.push_back(args[i++]);
    if (i >= args.size() || args[i] != '=')
      return fail(Errc::invalid_argument,
                  str_cat(what, " names must be followed by =value: ", key));
    ++i;
    char quote = 0;
    while (i < args.size()) {
      char c = args[i];
      if (quote) {
        if (c == quote)
          quote = 0;
        else if (c == '\\' && quote == '"' && i + 1 < args.size())
          val.push_back(args[++i]);
        else
          val.push_back(c);
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '\\' && i + 1 < args.size()) {
        val.push_back(args[++i]);
      } else if (c == ' ' || c == '\t') {
        break;
      } else {
        val.push_back(c);
      }
      ++i;
    }
    if (key.empty()) return fail(Errc::invalid_argument, str_cat(what, " has an empty name"));
    out.emplace_back(std::move(key), std::move(val));
  }
  return out;
}

void set_env(std::vector<std::string>& env, const std::string& k, const std::string& v) {
  for (auto& e : env)
    if (e.starts_with(k + "=") || e == k) {
      e = k + "=" + v;
      return;
    }
  env.push_back(k + "=" + v);
}

Result<void> apply_one(ChangeableConfig& c, std::string_view line) {
  line = trim(line);
  size_t sp = line.find_first_of(" \t");
  std::string instr = to_lower(line.substr(0, sp));
  std::string_view args = sp == std::string_view::npos ? std::string_view() : trim(line.substr(sp));
  auto shell_or_json = [&]() -> std::vector<std::string> {
    if (auto j = json_form(args)) return *j;
    std::vector<std::string> sh =
        c.run.shell ? *c.run.shell : std::vector<std::string>{"/bin/sh", "-c"};
    sh.emplace_back(args);
    return sh;
  };
  if (instr == "cmd") {
    c.run.cmd = shell_or_json();
  } else if (instr == "entrypoint") {
    c.run.entrypoint = shell_or_json();
  } else if (instr == "env") {
    for (auto& [k, v] : BERTH_TRY(key_values(args, "ENV"))) set_env(c.run.env, k, v);
  } else if (instr == "label") {
    for (auto& [k, v] : BERTH_TRY(key_values(args, "LABEL"))) c.run.labels[k] = v;
  } else if (instr == "expose") {
    for (auto p : split(args, ' ')) {
      p = trim(p);
      if (p.empty()) continue;
      std::string port(p);
      if (port.find('/') == std::string::npos) port += "/tcp";
      if (std::find(c.run.exposed_ports.begin(), c.run.exposed_ports.end(), port) ==
          c.run.exposed_ports.end())
        c.run.exposed_ports.push_back(port);
    }
  } else if (instr == "user") {
    c.run.user = std::string(args);
  } else if (instr == "workdir") {
    std::string w(args);
    if (!w.starts_with("/")) w = (c.run.working_dir.empty() ? "/" : c.run.working_dir + "/") + w;
    c.run.working_dir = w;
  } else if (instr == "volume") {
    std::vector<std::string> vols;
    if (auto j = json_form(args))
      vols = *j;
    else
      for (auto v : split(args, ' '))
        if (!trim(v).empty()) vols.emplace_back(trim(v));
    for (auto& v : vols)
      if (std::find(c.run.volumes.begin(), c.run.volumes.end(), v) == c.run.volumes.end())
        c.run.volumes.push_back(v);
  } else if (instr == "onbuild") {
    c.onbuild.emplace_back(args);
  } else if (instr == "stopsignal") {
    c.run.stop_signal = std::string(args);
  } else {
    return fail(Errc::invalid_argument,
                str_cat(line.substr(0, sp), " is not a valid change command"));
  }
  return {};
}

void write_strings_or_null(js::Writer& w, std::string_view key,
                           const std::optional<std::vector<std::string>>& v) {
  w.key(key);
  if (!v)
    w.null();
  else
    w.string_array(*v);
}

std::string write_run_config(const ChangeableConfig& c) {
  std::string out;
  js::Writer w(out);
  const RunConfig& r = c.run;
  w.begin_object();
  w.kv("Hostname", "").kv("Domainname", "").kv("User", r.user);
  w.kv("AttachStdin", false).kv("AttachStdout", false).kv("AttachStderr", false);
  if (!r.exposed_ports.empty()) {
    w.key("ExposedPorts").begin_object();
    for (const auto& p : r.exposed_ports) w.key(p).begin_object().end_object();
    w.end_object();
  }
  w.kv("Tty", false).kv("OpenStdin", false).kv("StdinOnce", false);
  w.key("Env");
  if (r.env.empty())
    w.null();
  else
    w.string_array(r.env);
  write_strings_or_null(w, "Cmd", r.cmd);
  w.kv("Image", "");
  w.key("Volumes");
  if (r.volumes.empty()) {
    w.null();
  } else {
    w.begin_object();
    for (const auto& v : r.volumes) w.key(v).begin_object().end_object();
    w.end_object();
  }
  w.kv("WorkingDir", r.working_dir);
  write_strings_or_null(w, "Entrypoint", r.entrypoint);
  w.key("OnBuild");
  if (c.onbuild.empty())
    w.null();
  else
    w.string_array(c.onbuild);
  w.key("Labels");
  if (r.labels.empty()) {
    w.null();
  } else {
    w.begin_object();
    for (const auto& [k, v] : r.labels) w.kv(k, v);
    w.end_object();
  }
  if (!r.stop_signal.empty()) w.kv("StopSignal", r.stop_signal);
  if (r.shell) w.key("Shell").string_array(*r.shell);
  w.end_object();
  return out;
}

std::string now_rfc3339() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return format_rfc3339(ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec));
}

}  // namespace

Result<std::string> apply_changes(const std::string& config_raw,
                                  const std::vector<std::string>& changes) {
  ChangeableConfig c;
  if (!config_raw.empty()) {
    std::string wrapped = "{\"config\":" + config_raw + "}";
    auto cfg = BERTH_TRY(parse_config(wrapped));
    c.run = cfg.config;
  }
  for (const auto& ch : changes)
    for (auto line : split(ch, '\n'))
      if (!trim(line).empty()) BERTH_TRY(apply_one(c, line));
  return write_run_config(c);
}

Result<std::string> ImageService::import(const extract::Source& src, const ImportOptions& opts) {
  return collect_on_failure(import_image(src, opts));
}

Result<std::string> ImageService::import_image(const extract::Source& src,
                                               const ImportOptions& opts) {
  std::shared_lock gc_guard(gc_mu_);
  std::string run_config = BERTH_TRY(apply_changes("", opts.changes));
  // Store the archive as it came, then unpack it from the store.
  auto ingest = BERTH_TRY(content_->begin_ingest());
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  for (;;) {
    size_t n = BERTH_TRY(src(buf.get(), 1 << 20));
    if (n == 0) break;
    BERTH_TRY(ingest.write(std::string_view(buf.get(), n)));
  }
  if (ingest.size() == 0) return fail(Errc::invalid_argument, "import: the archive is empty");
  content::Digest blob = BERTH_TRY(ingest.commit());
  RegisteredLayer reg = BERTH_TRY(unpack_blob(blob, ""));

  std::string created = now_rfc3339();
  std::string arch =
      opts.architecture.empty() ? sys::gather_host_info().go_arch : opts.architecture;
  // As docker: the message is the image's comment and its history line's.
  const std::string comment = opts.message.empty() ? std::string("Imported from -") : opts.message;
  std::string config;
  js::Writer w(config);
  w.begin_object();
  w.kv("architecture", arch);
  w.kv("comment", comment);
  w.key("config").raw(run_config);
  w.kv("created", created);
  w.key("history").begin_array().begin_object();
  w.kv("created", created);
  w.kv("comment", comment);
  w.end_object().end_array();
  w.kv("os", opts.os.empty() ? std::string("linux") : opts.os);
  w.key("rootfs").begin_object().kv("type", "layers");
  w.key("diff_ids").begin_array().value(reg.layer.diff_id).end_array();
  w.end_object();
  w.end_object();

  ImageRecord img;
  img.id = archive::sha256(config).to_string();
  img.config = config;
  img.diff_ids = {reg.layer.diff_id};
  img.created = parse_rfc3339(created);
  img.size = reg.layer.size;
  std::vector<std::string> tags;
  if (!opts.tag.empty()) tags.push_back(opts.tag);
  BERTH_TRY(images_->put(img, {reg.layer}, {reg.blob}, tags));
  return img.id;
}

}  // namespace berth::layers::image
