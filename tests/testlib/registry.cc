#include "tests/testlib/registry.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/base/strings.h"

namespace berth::testing {

namespace fs = std::filesystem;
using layers::testing::ImageSpec;
using layers::testing::shell_quote;
using layers::testing::slurp;
using layers::testing::spit;

namespace {

bool have(const std::string& tool) {
  return run_command("command -v " + tool + " >/dev/null").status == 0;
}

// Forks and execs argv in a process group of its own (so that a kill of
// the group takes whatever it starts), stdout and stderr appended to log.
pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setsid();
  // Gone with the test process too when it is killed before its destructors.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  int null = ::open("/dev/null", O_RDONLY);
  if (fd < 0 || null < 0) _exit(126);
  ::dup2(null, 0);
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  ::closefrom(3);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  _exit(127);
}

// SIGKILL to the group, then reap (bounded: SIGKILL cannot be ignored).
void kill_group(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

bool exited(pid_t pid) {
  int st;
  return ::waitpid(pid, &st, WNOHANG) == pid;
}

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// The token server: GET /token?service=&scope=... answers a JWT (RS256,
// x5c header with the signing certificate, which is the registry's
// rootcertbundle). With the right basic credentials the token grants the
// asked actions; without credentials it grants none (anonymous); with
// wrong ones it answers 401.
const char* kTokenServer = R"PY(
import base64, json, os, subprocess, sys, time, uuid
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

key, cert, issuer, service, user, password, port_file = sys.argv[1:8]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                     check=True, capture_output=True).stdout
x5c = base64.b64encode(der).decode()

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def sign(data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data,
                          check=True, capture_output=True).stdout

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("token-server: %s\n" % (fmt % args))

    def reply(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        authed = False
        h = self.headers.get("Authorization", "")
        if h.startswith("Basic "):
            try:
                u, p = base64.b64decode(h[6:]).decode().split(":", 1)
            except Exception:
                u, p = "", ""
            if u != user or p != password:
                self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "invalid username or password"}]},
                           {"WWW-Authenticate": 'Basic realm="berth-token"'})
                return
            authed = True
        access = []
        for s in q.get("scope", []):
            for one in s.split(" "):
                parts = one.split(":")
                if len(parts) < 3:
                    continue
                access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                               "actions": parts[-1].split(",") if authed else []})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
        claims = {"iss": issuer, "sub": user if authed else "", "aud": service,
                  "exp": now + 900, "nbf": now - 60, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
        token = signing_input + "." + b64u(sign(signing_input.encode()))
        self.reply(200, {"token": token, "access_token": token, "expires_in": 900,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
)PY";

const char* kTokenService = "berth-test-registry";
const char* kTokenIssuer = "berth-test-issuer";

}  // namespace

std::string registry_tools_missing(bool htpasswd, bool python) {
  std::string missing;
  for (const char* t : {"docker-registry", "skopeo", "openssl", "curl"})
    if (!have(t)) str_append(missing, missing.empty() ? "" : ", ", t);
  if (htpasswd && !have("htpasswd"))
    str_append(missing, missing.empty() ? "" : ", ", "htpasswd (apache2-utils)");
  if (python && !have("python3")) str_append(missing, missing.empty() ? "" : ", ", "python3");
  return missing.empty() ? "" : "not installed: " + missing + " (tools/setup-deps.sh)";
}

std::string sha256_digest(std::string_view data) {
  return layers::archive::sha256(data).to_string();
}

std::string base64(std::string_view data, bool url) {
  const char* abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(data[i]) << 16 | static_cast<uint8_t>(data[i + 1]) << 8 |
                 static_cast<uint8_t>(data[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(abc[(v >> k) & 63]);
  }
  size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(data[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(data[i + 1]) << 8;
    out.push_back(abc[(v >> 18) & 63]);
    out.push_back(abc[(v >> 12) & 63]);
    if (rest == 2) out.push_back(abc[(v >> 6) & 63]);
    if (!url) out.append(rest == 2 ? "=" : "==");
  }
  return out;
}

// --- Registry ------------------------------------------------------------------------

Registry::Registry(Options opts) : opts_(std::move(opts)), dir_("berth-registry") {
  fs::create_directories(dir_ / "storage");
  fs::create_directories(dir_ / "home/.docker");
  fs::create_directories(dir_ / "run");
}

Registry::~Registry() {
  kill_group(pid_);
  kill_group(token_pid_);
}

std::string Registry::host() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string Registry::url() const {
  return str_cat(opts_.tls ? "https://" : "http://", host());
}

std::string Registry::blob_path(const std::string& digest) const {
  std::string hex = digest.substr(digest.find(':') + 1);
  return str_cat(storage(), "/docker/registry/v2/blobs/sha256/", hex.substr(0, 2), "/", hex,
                 "/data");
}

std::string Registry::log() const {
  std::string out = slurp(dir_ / "registry.log");
  if (opts_.auth == Auth::token) out += slurp(dir_ / "token-server.log");
  return out;
}

std::string Registry::certs_d() {
  std::string d = dir_ / ("certs.d/" + host());
  if (opts_.tls && !fs::exists(d + "/ca.crt")) {
    fs::create_directories(d);
    fs::copy_file(ca_path(), d + "/ca.crt", fs::copy_options::overwrite_existing);
  }
  return dir_ / "certs.d";
}

::testing::AssertionResult Registry::make_files() {
  auto sh = [&](const std::string& what, const std::string& cmd) -> ::testing::AssertionResult {
    // In a group: run_command's 2>&1 then takes every command's stderr.
    auto r = run_command(str_cat("{ cd ", shell_quote(dir_.path()), " && ", cmd, "; }"));
    if (r.status != 0) return ::testing::AssertionFailure() << what << " failed: " << r.output;
    return ::testing::AssertionSuccess();
  };
  if (opts_.tls) {
    // EC keys: quick to make. The server certificate names the address the
    // tests use and localhost.
    auto r = sh("the test CA",
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                "-keyout ca.key -out ca.crt -days 3 -subj '/CN=berth test CA' "
                "-addext basicConstraints=critical,CA:TRUE "
                "-addext keyUsage=critical,keyCertSign,cRLSign");
    if (!r) return r;
    spit(dir_ / "server.ext",
         "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
         "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
    r = sh("the server certificate",
           "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout server.key -out server.csr -subj /CN=localhost && "
           "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
           "-out server.crt -days 3 -extfile server.ext");
    if (!r) return r;
  }
  if (opts_.auth == Auth::htpasswd) {
    auto r = sh("htpasswd", str_cat("htpasswd -Bbn ", shell_quote(opts_.user), " ",
                                    shell_quote(opts_.password), " > htpasswd"));
    if (!r) return r;
  }
  if (opts_.auth == Auth::token) {
    auto r = sh("the token signing certificate",
                "openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt "
                "-days 3 -subj '/CN=berth test token issuer'");
    if (!r) return r;
    spit(dir_ / "token_server.py", kTokenServer);
  }
  files_made_ = true;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Registry::start_token_server() {
  std::string port_file = dir_ / "token.port";
  token_pid_ = spawn({"python3", dir_ / "token_server.py", dir_ / "token.key", dir_ / "token.crt",
                      kTokenIssuer, kTokenService, opts_.user, opts_.password, port_file},
                     dir_ / "token-server.log");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (exited(token_pid_)) {
      token_pid_ = -1;
      return ::testing::AssertionFailure() << "token server exited: " << log();
    }
    std::string p = slurp(port_file);
    if (!p.empty()) {
      token_port_ = std::atoi(p.c_str());
      return ::testing::AssertionSuccess();
    }
    sleep_ms(20);
  }
  return ::testing::AssertionFailure() << "token server did not start: " << log();
}

std::string Registry::curl_flags() const {
  std::string f = "-s --max-time 2 -o /dev/null -w '%{http_code}'";
  if (opts_.tls) f += " --cacert " + shell_quote(ca_path());
  return f;
}

::testing::AssertionResult Registry::wait_ready(pid_t pid, const std::string& url) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (exited(pid)) return ::testing::AssertionFailure() << "docker-registry exited: " << log();
    auto r = run_command(str_cat("curl ", curl_flags(), " ", shell_quote(url)));
    last = r.output;
    if (last == "200" || last == "401") return ::testing::AssertionSuccess();
    sleep_ms(30);
  }
  return ::testing::AssertionFailure()
         << "docker-registry did not answer " << url << " (last: " << last << "): " << log();
}

::testing::AssertionResult Registry::start() {
  if (pid_ > 0) return ::testing::AssertionSuccess();
  if (!files_made_) {
    auto r = make_files();
    if (!r) return r;
  }
  if (opts_.auth == Auth::token && token_pid_ <= 0) {
    auto r = start_token_server();
    if (!r) return r;
  }
  // The port is picked before the registry binds it: another process may
  // take it in between. Then the registry exits and a new port is tried.
  bool keep_port = port_ != 0;
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (!keep_port) port_ = free_port();
    std::string cfg = str_cat(
        "version: 0.1\n"
        "log:\n  level: info\n  formatter: text\n"
        "storage:\n  filesystem:\n    rootdirectory: ",
        storage(),
        "\n  delete:\n    enabled: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        "http:\n  addr: ",
        host(), "\n  secret: berth-test-secret\n");
    if (opts_.tls)
      str_append(cfg, "  tls:\n    certificate: ", dir_ / "server.crt",
                 "\n    key: ", dir_ / "server.key", "\n");
    if (opts_.auth == Auth::htpasswd)
      str_append(cfg,
                 "auth:\n  htpasswd:\n    realm: berth-test-realm\n    path: ", dir_ / "htpasswd",
                 "\n");
    if (opts_.auth == Auth::token)
      str_append(cfg, "auth:\n  token:\n    realm: http://127.0.0.1:", token_port_,
                 "/token\n    service: ", kTokenService, "\n    issuer: ", kTokenIssuer,
                 "\n    rootcertbundle: ", dir_ / "token.crt", "\n");
    cfg += "health:\n  storagedriver:\n    enabled: false\n";
    spit(dir_ / "config.yml", cfg);
    size_t log_before = slurp(dir_ / "registry.log").size();
    pid_ = spawn({"docker-registry", "serve", dir_ / "config.yml"}, dir_ / "registry.log");
    result = wait_ready(pid_, url() + "/v2/");
    if (result) return result;
    kill_group(pid_);
    bool in_use = slurp(dir_ / "registry.log").find("address already in use", log_before) !=
                  std::string::npos;
    if (!in_use) break;
    keep_port = false;
  }
  return result;
}

void Registry::stop() {
  kill_group(pid_);
}

CommandResult Registry::skopeo(const std::string& args) const {
  return run_command(str_cat("env HOME=", shell_quote(dir_ / "home"),
                             " DOCKER_CONFIG=", shell_quote(dir_ / "home/.docker"),
                             " XDG_RUNTIME_DIR=", shell_quote(dir_ / "run"),
                             " REGISTRY_AUTH_FILE=", shell_quote(dir_ / "run/auth.json"),
                             " timeout -k 5 120 skopeo --insecure-policy ", args));
}

std::string Registry::src_flags() const {
  std::string f = "--src-tls-verify=false";
  if (opts_.auth != Auth::none)
    str_append(f, " --src-creds ", shell_quote(opts_.user + ":" + opts_.password));
  return f;
}

std::string Registry::dest_flags() const {
  std::string f = "--dest-tls-verify=false";
  if (opts_.auth != Auth::none)
    str_append(f, " --dest-creds ", shell_quote(opts_.user + ":" + opts_.password));
  return f;
}

CommandResult Registry::push(const std::string& source, const std::string& name,
                             const std::string& extra) const {
  return skopeo(str_cat("copy --quiet ", dest_flags(), " ", extra, " ", shell_quote(source), " ",
                        shell_quote("docker://" + ref(name))));
}

std::string Registry::raw_manifest(const std::string& name) const {
  std::string flags = "--tls-verify=false";
  if (opts_.auth != Auth::none)
    str_append(flags, " --creds ", shell_quote(opts_.user + ":" + opts_.password));
  // stderr apart (run_command joins it to stdout): a group with its own
  // redirection.
  auto r = skopeo(str_cat("inspect --raw ", flags, " ", shell_quote("docker://" + ref(name)), " 2>",
                          shell_quote(dir_ / "inspect.err")));
  if (r.status != 0) return "";
  return r.output;
}

std::string Registry::manifest_digest(const std::string& name, std::string* error) const {
  std::string raw = raw_manifest(name);
  if (raw.empty()) {
    if (error) *error = slurp(dir_ / "inspect.err");
    return "";
  }
  return sha256_digest(raw);
}

// --- OCI layouts ---------------------------------------------------------------------

namespace {

std::string put_blob(const std::string& dir, std::string_view data) {
  std::string d = sha256_digest(data);
  fs::create_directories(dir + "/blobs/sha256");
  spit(dir + "/blobs/sha256/" + d.substr(7), data);
  return d;
}

std::string layer_media_type(std::string_view blob) {
  if (blob.size() >= 2 && static_cast<unsigned char>(blob[0]) == 0x1f &&
      static_cast<unsigned char>(blob[1]) == 0x8b)
    return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (blob.size() >= 4 && blob.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4))
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  return "application/vnd.oci.image.layer.v1.tar";
}

std::string platform_json(const Platform& p) {
  std::string out = str_cat("{\"architecture\":\"", p.architecture, "\",\"os\":\"", p.os, "\"");
  if (!p.variant.empty()) str_append(out, ",\"variant\":\"", p.variant, "\"");
  return out + "}";
}

}  // namespace

std::string oci_config(const ImageSpec& spec, const Platform& platform) {
  std::string config = layers::testing::config_json(spec);
  std::string from = "\"architecture\":\"amd64\",\"os\":\"linux\"";
  std::string to =
      str_cat("\"architecture\":\"", platform.architecture, "\",\"os\":\"", platform.os, "\"");
  if (!platform.variant.empty()) str_append(to, ",\"variant\":\"", platform.variant, "\"");
  if (auto at = config.find(from); at != std::string::npos) config.replace(at, from.size(), to);
  return config;
}

namespace {

// Writes config, layers and manifest blobs; returns {digest, size} of the
// manifest.
std::pair<std::string, size_t> put_image(const std::string& dir, const ImageSpec& spec,
                                         const Platform& platform) {
  std::string config = oci_config(spec, platform);
  std::string cfg_digest = put_blob(dir, config);
  std::string manifest = str_cat(
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"",
      cfg_digest, "\",\"size\":", config.size(), "},\"layers\":[");
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& l = spec.layers[i];
    put_blob(dir, l.blob);
    str_append(manifest, i ? "," : "", "{\"mediaType\":\"", layer_media_type(l.blob),
               "\",\"digest\":\"", l.digest, "\",\"size\":", l.blob.size(), "}");
  }
  manifest += "]}";
  return {put_blob(dir, manifest), manifest.size()};
}

// Adds one entry to DIR/index.json (made when absent).
void add_to_index(const std::string& dir, const std::string& media_type, const std::string& digest,
                  size_t size, const std::string& tag) {
  spit(dir + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
  std::string entry = str_cat(
      "{\"mediaType\":\"", media_type, "\",\"digest\":\"", digest, "\",\"size\":", size,
      ",\"annotations\":{\"org.opencontainers.image.ref.name\":", layers::testing::json_string(tag),
      "}}");
  std::string index = slurp(dir + "/index.json");
  const std::string tail = "]}";
  if (index.size() > tail.size() && index.ends_with(tail)) {
    index.insert(index.size() - tail.size(), "," + entry);
  } else {
    index = str_cat("{\"schemaVersion\":2,\"manifests\":[", entry, "]}");
  }
  spit(dir + "/index.json", index);
}

}  // namespace

std::string write_oci_image(const std::string& dir, const std::string& tag, const ImageSpec& spec,
                            const Platform& platform) {
  auto [digest, size] = put_image(dir, spec, platform);
  add_to_index(dir, "application/vnd.oci.image.manifest.v1+json", digest, size, tag);
  return digest;
}

std::string write_oci_index(const std::string& dir, const std::string& tag,
                            const std::vector<std::pair<Platform, ImageSpec>>& images) {
  std::string index =
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
      "\"manifests\":[";
  for (size_t i = 0; i < images.size(); ++i) {
    auto [digest, size] = put_image(dir, images[i].second, images[i].first);
    str_append(index, i ? "," : "",
               "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"",
               digest, "\",\"size\":", size, ",\"platform\":", platform_json(images[i].first), "}");
  }
  index += "]}";
  std::string digest = put_blob(dir, index);
  add_to_index(dir, "application/vnd.oci.image.index.v1+json", digest, index.size(), tag);
  return digest;
}

ImageSpec busybox_image(const std::string& work_dir, std::string* why) {
  ImageSpec spec;
  std::string tar = work_dir + "/busybox-rootfs.tar";
  auto r = run_command(
      str_cat(source_dir(), "/tools/make-busybox-image.sh ", shell_quote(tar), " 2>&1"));
  if (r.status != 0) {
    if (why) *why = "cannot make the busybox rootfs (busybox-static): " + r.output;
    return spec;
  }
  spec.layers.push_back(layers::testing::make_layer(slurp(tar)));
  spec.cmd = {"sh"};
  return spec;
}

// --- CuttingProxy --------------------------------------------------------------------

namespace {

// One direction of a proxied connection: bytes read from `from` wait in
// buf until `to` takes them.
struct Flow {
  int from = -1, to = -1;
  std::string buf;
  bool eof = false;  // from is at its end: shut to's write side once buf is out
};

struct Conn {
  unique_fd client, upstream;
  Flow up, down;          // client -> upstream, upstream -> client
  std::string head;       // request bytes not yet parsed
  size_t body_left = 0;   // request body bytes to skip
  bool opaque = false;    // not parseable HTTP (TLS, chunked): stop looking
  bool armed = false;     // this response is the one to cut
  size_t down_count = 0;  // response bytes since armed
  bool closing = false;   // cut: close once down.buf is flushed
  bool dead = false;
};

}  // namespace

CuttingProxy::CuttingProxy(int target_port, std::string match, size_t cut_after)
    : target_(target_port), match_(std::move(match)), cut_after_(cut_after) {
  listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  int one = 1;
  ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener_.get(), 64) != 0)
    throw std::runtime_error("proxy: cannot listen");
  socklen_t len = sizeof a;
  ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("proxy: pipe");
  wake_[0].reset(p[0]);
  wake_[1].reset(p[1]);
  thread_ = std::thread([this] { loop(); });
}

CuttingProxy::~CuttingProxy() {
  stop_ = true;
  char c = 1;
  (void)!::write(wake_[1].get(), &c, 1);
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> CuttingProxy::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void CuttingProxy::loop() {
  std::vector<std::unique_ptr<Conn>> conns;
  auto parse_requests = [&](Conn& c, std::string_view data) {
    if (c.opaque) return;
    c.head.append(data);
    for (;;) {
      if (c.body_left > 0) {
        size_t n = std::min(c.body_left, c.head.size());
        c.head.erase(0, n);
        c.body_left -= n;
        if (c.body_left > 0) return;
      }
      size_t end = c.head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.head.size() > 65536 || (!c.head.empty() && !std::isupper(c.head[0]))) c.opaque = true;
        return;
      }
      std::string head = c.head.substr(0, end);
      c.head.erase(0, end + 4);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(head);
      }
      std::string first = head.substr(0, head.find("\r\n"));
      if (!cut_done_ && first.starts_with("GET ") && contains(first, match_)) {
        c.armed = true;
        c.down_count = 0;
      }
      std::string lower = to_lower(head);
      if (contains(lower, "transfer-encoding: chunked")) {
        c.opaque = true;
        return;
      }
      if (auto at = lower.find("content-length:"); at != std::string::npos)
        c.body_left = std::strtoull(lower.c_str() + at + 15, nullptr, 10);
    }
  };

  while (!stop_) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Conn*, Flow*>> owners;
    fds.push_back({listener_.get(), POLLIN, 0});
    fds.push_back({wake_[0].get(), POLLIN, 0});
    owners.resize(2);
    for (auto& c : conns) {
      for (Flow* f : {&c->up, &c->down}) {
        if (f->buf.empty()) {
          if (c->closing || f->eof) continue;
          fds.push_back({f->from, POLLIN, 0});
        } else {
          fds.push_back({f->to, POLLOUT, 0});
        }
        owners.emplace_back(c.get(), f);
      }
    }
    if (::poll(fds.data(), fds.size(), 200) < 0) continue;
    if (fds[0].revents & POLLIN) {
      for (;;) {
        int cfd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) break;
        auto c = std::make_unique<Conn>();
        c->client.reset(cfd);
        c->upstream.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(target_));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // Blocking connect on loopback: immediate (or refused).
        if (::connect(c->upstream.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) continue;
        ::fcntl(c->upstream.get(), F_SETFL, O_NONBLOCK);
        c->up = {c->client.get(), c->upstream.get(), {}};
        c->down = {c->upstream.get(), c->client.get(), {}};
        conns.push_back(std::move(c));
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      auto [c, f] = owners[i];
      if (c->dead) continue;
      if (fds[i].events & POLLIN) {
        char buf[65536];
        ssize_t n = ::recv(f->from, buf, sizeof buf, 0);
        if (n == 0) {
          f->eof = true;
          ::shutdown(f->to, SHUT_WR);
          continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          c->dead = true;
          continue;
        }
        if (n < 0) continue;
        std::string_view data(buf, static_cast<size_t>(n));
        if (f == &c->up) {
          parse_requests(*c, data);
        } else if (c->armed) {
          size_t left = cut_after_ - c->down_count;
          if (data.size() >= left) {
            data = data.substr(0, left);
            c->closing = true;
            c->armed = false;
            cut_done_ = true;
          }
          c->down_count += data.size();
        }
        f->buf.append(data);
      } else {
        ssize_t n = ::send(f->to, f->buf.data(), f->buf.size(), MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          c->dead = true;
          continue;
        }
        if (n > 0) f->buf.erase(0, static_cast<size_t>(n));
        if (f->buf.empty() && f->eof) ::shutdown(f->to, SHUT_WR);
      }
    }
    // A cut connection ends once what came before the cut is delivered; a
    // dead one at once (what was buffered for it is lost, as on a real
    // network).
    std::erase_if(conns, [](const std::unique_ptr<Conn>& c) {
      bool drained = c->up.eof && c->down.eof && c->up.buf.empty() && c->down.buf.empty();
      return c->dead || drained || (c->closing && c->down.buf.empty());
    });
  }
}

}  // namespace berth::testing
