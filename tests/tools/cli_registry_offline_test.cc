// The berth CLI's registry verbs (pull, push, login, logout) against a fake
// daemon: a unix socket answering with canned JSON message streams, so no
// registry, network or root is needed. Checks the requests the CLI makes
// (targets, X-Registry-Auth from docker's config.json, /auth bodies), the
// output with and without a terminal (a pty), docker's messages and exit
// codes, and config.json written as docker writes it.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/base/strings.h"
#include "tests/testlib/testlib.h"

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::run_command;
using testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

struct Request {
  std::string method, target, head, body;
  std::string header(const std::string& name) const {
    std::string lower = to_lower(head), key = "\r\n" + to_lower(name) + ": ";
    size_t p = lower.find(key);
    if (p == std::string::npos) return "";
    size_t start = p + key.size();
    return head.substr(start, head.find("\r\n", start) - start);
  }
};

std::string json_response(int status, const std::string& body) {
  return str_cat("HTTP/1.1 ", status,
                 " X\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                 "\r\nConnection: close\r\n\r\n", body);
}

// A whole stream in one chunked response (the CLI must cope with lines
// split across chunks: every line goes out in two pieces).
std::string stream_response(const std::vector<std::string>& lines) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n";
  auto chunk = [&](std::string_view s) {
    char len[32];
    std::snprintf(len, sizeof len, "%zx\r\n", s.size());
    out.append(len).append(s).append("\r\n");
  };
  for (const auto& l : lines) {
    std::string line = l + "\n";
    size_t half = line.size() / 2;
    chunk(std::string_view(line).substr(0, half));
    chunk(std::string_view(line).substr(half));
  }
  out += "0\r\n\r\n";
  return out;
}

// A daemon that answers every request with handler(request) and closes.
class FakeDaemon {
 public:
  using Handler = std::function<std::string(const Request&)>;
  FakeDaemon(const std::string& path, Handler h) : path_(path), handler_(std::move(h)) {
    listen_ = unique_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_.get(), 8), 0);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    thread_.join();
  }
  std::string host() const { return "unix://" + path_; }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      unique_fd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) continue;
      timeval tv{10, 0};
      ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      Request r;
      std::string data;
      char buf[4096];
      size_t end;
      while ((end = data.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
      }
      if (end == std::string::npos) continue;
      r.head = data.substr(0, end + 2);
      r.body = data.substr(end + 4);
      size_t len = 0;
      if (auto cl = r.header("Content-Length"); !cl.empty()) len = std::stoul(cl);
      while (r.body.size() < len) {
        ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        r.body.append(buf, static_cast<size_t>(n));
      }
      size_t sp = r.head.find(' ');
      r.method = r.head.substr(0, sp);
      r.target = r.head.substr(sp + 1, r.head.find(' ', sp + 1) - sp - 1);
      std::string res = handler_(r);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(r);
      }
      (void)!::send(c.get(), res.data(), res.size(), MSG_NOSIGNAL);
    }
  }

  std::string path_;
  Handler handler_;
  unique_fd listen_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

struct CliRun {
  int status = -1;
  std::string out, err;
};

const std::vector<std::string> kPullStream = {
    R"({"status":"Pulling from library/busybox","id":"latest"})",
    R"({"status":"Pulling fs layer","progressDetail":{},"id":"a1b2c3d4e5f6"})",
    R"({"status":"Pulling fs layer","progressDetail":{},"id":"0123456789ab"})",
    R"({"status":"Downloading","progressDetail":{"current":1000000,"total":3000000},"progress":"[================>                                  ]      1MB/3MB","id":"a1b2c3d4e5f6"})",
    R"({"status":"Downloading","progressDetail":{"current":3000000,"total":3000000},"progress":"[==================================================>]      3MB/3MB","id":"a1b2c3d4e5f6"})",
    R"({"status":"Pull complete","progressDetail":{},"id":"a1b2c3d4e5f6"})",
    R"({"status":"Pull complete","progressDetail":{},"id":"0123456789ab"})",
    R"({"status":"Digest: sha256:1111111111111111111111111111111111111111111111111111111111111111"})",
    R"({"status":"Status: Downloaded newer image for busybox:latest"})",
};

class CliRegistryOfflineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berth_ = testing::build_dir() + "/berth";
    if (::access(berth_.c_str(), X_OK) != 0) GTEST_SKIP() << "no berth binary at " << berth_;
  }

  void serve(FakeDaemon::Handler h) { daemon_ = std::make_unique<FakeDaemon>(work_ / "d.sock", h); }
  void serve_stream(std::vector<std::string> lines) {
    serve([lines](const Request&) { return stream_response(lines); });
  }

  std::string env() const {
    return str_cat("env -i PATH=/usr/bin:/bin HOME=", work_ / "home",
                   " BERTH_HOST=", daemon_ ? daemon_->host() : "unix:///nonexistent",
                   " DOCKER_CONFIG=", config_dir(), " ");
  }
  // berth with args, stdin from input (or /dev/null); stdout and stderr apart.
  CliRun cli(const std::string& args, const std::string* input = nullptr) {
    std::string in = input ? str_cat("printf %s ", quote(*input), " | ") : "";
    std::string cmd =
        str_cat(in, env(), "timeout -k 5 30 ", berth_, " ", args, input ? "" : " </dev/null");
    std::string err_path = work_ / "stderr";
    auto r = run_command(str_cat("{ { ", cmd, "; } 2>", err_path, "; }"));
    return CliRun{WIFEXITED(r.status) ? WEXITSTATUS(r.status) : r.status, r.output,
                  slurp(err_path)};
  }
  // berth on a pseudo-terminal (stdin, stdout and stderr), 120 columns wide.
  CliRun cli_tty(const std::vector<std::string>& args) {
    int master = -1;
    winsize ws{};
    ws.ws_row = 40;
    ws.ws_col = 120;
    std::vector<std::string> envs = {"PATH=/usr/bin:/bin", "HOME=" + (work_ / "home"),
                                     "BERTH_HOST=" + daemon_->host(),
                                     "DOCKER_CONFIG=" + config_dir()};
    std::vector<char*> argv{const_cast<char*>(berth_.c_str())}, envp;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
    if (pid == 0) {
      ::alarm(30);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    CliRun r;
    if (pid < 0) return r;
    char buf[4096];
    for (;;) {
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 30000) <= 0) break;
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0) break;  // EIO once the child is gone
      r.out.append(buf, static_cast<size_t>(n));
    }
    ::close(master);
    int st = 0;
    ::waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
  }

  std::string config_dir() const { return work_ / "dockercfg"; }
  std::string config_path() const { return config_dir() + "/config.json"; }
  void write_config(const std::string& text) {
    std::filesystem::create_directories(config_dir());
    spit(config_path(), text);
  }
  // A JSON value of config.json through python3 (the reference reader);
  // "!" when the file is not JSON.
  std::string config_value(const std::string& expr) {
    std::string script =
        str_cat("import json,sys; c=json.load(open(sys.argv[1])); print(", expr, ")");
    auto r = run_command(
        str_cat("python3 -c ", quote(script), " ", quote(config_path()), " 2>/dev/null"));
    return r.status == 0 ? std::string(trim(r.output)) : "!";
  }
  // The X-Registry-Auth of a request, decoded.
  static std::string registry_auth(const Request& r) {
    auto d = base64_decode(r.header("X-Registry-Auth"));
    return d ? *d : "!";
  }

  TempDir work_{"berth-cli-reg-offline"};
  std::string berth_;
  std::unique_ptr<FakeDaemon> daemon_;
};

// --- pull --------------------------------------------------------------------

TEST_F(CliRegistryOfflineTest, PullWithoutTerminalPrintsPlainLines) {
  serve_stream(kPullStream);
  auto r = cli("pull busybox");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "Using default tag: latest\n"
            "latest: Pulling from library/busybox\n"
            "a1b2c3d4e5f6: Pulling fs layer\n"
            "0123456789ab: Pulling fs layer\n"
            "a1b2c3d4e5f6: Pull complete\n"
            "0123456789ab: Pull complete\n"
            "Digest: sha256:1111111111111111111111111111111111111111111111111111111111111111\n"
            "Status: Downloaded newer image for busybox:latest\n"
            "docker.io/library/busybox:latest\n");
  EXPECT_EQ(r.err, "");
  auto reqs = daemon_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/v1.44/images/create?fromImage=busybox&tag=latest");
  EXPECT_EQ(reqs[0].header("X-Registry-Auth"), "e30=");
}

TEST_F(CliRegistryOfflineTest, PullByDigestAndPlatformAndImagePull) {
  serve_stream({R"({"status":"Status: Image is up to date"})"});
  std::string digest = "sha256:" + std::string(64, 'a');
  auto r = cli("image pull --platform linux/amd64 localhost:5000/team/app@" + digest);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Status: Image is up to date\nlocalhost:5000/team/app@" + digest + "\n");
  auto reqs = daemon_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target,
            "/v1.44/images/create?fromImage=localhost%3A5000%2Fteam%2Fapp&tag=sha256%3A" +
                std::string(64, 'a') + "&platform=linux%2Famd64");
}

TEST_F(CliRegistryOfflineTest, PullQuietPrintsOnlyTheReference) {
  serve_stream(kPullStream);
  auto r = cli("pull -q busybox:1.36");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "docker.io/library/busybox:1.36\n");
}

TEST_F(CliRegistryOfflineTest, PullOnTerminalRedrawsLayerLines) {
  serve_stream(kPullStream);
  auto r = cli_tty({"pull", "busybox"});
  ASSERT_EQ(r.status, 0) << r.out;
  // Each layer line is drawn in place: erase line, carriage return, and the
  // cursor moved up to the layer's line and back.
  EXPECT_TRUE(contains(r.out, "\x1b[2K\ra1b2c3d4e5f6: Downloading [================>"))
      << quote(r.out);
  EXPECT_TRUE(contains(r.out, "]      1MB/3MB\r")) << quote(r.out);
  EXPECT_TRUE(contains(r.out, "\x1b[2A")) << quote(r.out);
  EXPECT_TRUE(contains(r.out, "\x1b[2B")) << quote(r.out);
  EXPECT_TRUE(contains(r.out, "a1b2c3d4e5f6: Pull complete \r")) << quote(r.out);
  EXPECT_TRUE(contains(r.out, "Status: Downloaded newer image for busybox:latest")) << r.out;
  EXPECT_TRUE(r.out.ends_with("docker.io/library/busybox:latest\r\n")) << quote(r.out);
}

TEST_F(CliRegistryOfflineTest, PullSendsTheStoredCredentials) {
  write_config(str_cat(R"({"auths":{"https://index.docker.io/v1/":{"auth":")",
                       base64_encode("hub:hubpw"), R"("},"http://localhost:5000":{"auth":")",
                       base64_encode("me:s3cr:et"), R"("}}})"));
  serve_stream({R"({"status":"Status: Image is up to date for x"})"});
  ASSERT_EQ(cli("pull localhost:5000/x").status, 0);
  ASSERT_EQ(cli("pull busybox").status, 0);
  ASSERT_EQ(cli("pull other.example.com/x").status, 0);
  auto reqs = daemon_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  // The registry's host matches the key whatever its scheme; the password
  // keeps its colons.
  EXPECT_EQ(registry_auth(reqs[0]),
            R"({"username":"me","password":"s3cr:et","serveraddress":"http://localhost:5000"})");
  EXPECT_EQ(
      registry_auth(reqs[1]),
      R"({"username":"hub","password":"hubpw","serveraddress":"https://index.docker.io/v1/"})");
  EXPECT_EQ(reqs[2].header("X-Registry-Auth"), "e30=");
  // base64url: no '+' or '/'.
  EXPECT_EQ(reqs[0].header("X-Registry-Auth").find_first_of("+/"), std::string::npos);
}

TEST_F(CliRegistryOfflineTest, PullStreamErrorExitsOne) {
  serve_stream(
      {R"({"status":"Pulling from library/busybox","id":"nosuch"})",
       R"({"errorDetail":{"message":"manifest unknown: manifest unknown"},"error":"manifest unknown: manifest unknown"})",
       R"({"status":"never shown"})"});
  auto r = cli("pull busybox:nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "nosuch: Pulling from library/busybox\n");
  EXPECT_EQ(r.err, "Error response from daemon: manifest unknown: manifest unknown\n");
}

TEST_F(CliRegistryOfflineTest, PullHttpErrorExitsOne) {
  serve([](const Request&) {
    return json_response(
        404, R"({"message":"pull access denied for nosuch, repository does not exist"})");
  });
  auto r = cli("pull nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "Error response from daemon: pull access denied for nosuch, repository does not "
            "exist\n");
}

TEST_F(CliRegistryOfflineTest, PullArgumentErrors) {
  serve_stream({});
  auto r = cli("pull 'Not A Reference'");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "invalid reference format")) << r.err;
  r = cli("pull");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "requires 1 argument")) << r.err;
  r = cli("pull --bogus x");
  EXPECT_EQ(r.status, 125);
  r = cli("pull -a busybox:1");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "tag can't be used with --all-tags/-a")) << r.err;
  EXPECT_TRUE(daemon_->requests().empty());
  r = cli("pull --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.out, "berth pull [OPTIONS] NAME[:TAG|@DIGEST]")) << r.out;
}

TEST_F(CliRegistryOfflineTest, PullWithoutDaemonSaysSo) {
  auto r = cli("pull busybox");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "Cannot connect to the berth daemon")) << r.err;
}

// --- push --------------------------------------------------------------------

TEST_F(CliRegistryOfflineTest, PushShowsTheStreamWithoutAux) {
  serve_stream({
      R"({"status":"The push refers to repository [localhost:5000/x]"})",
      R"({"status":"Preparing","progressDetail":{},"id":"a1b2c3d4e5f6"})",
      R"({"status":"Pushing","progressDetail":{"current":512,"total":1024},"progress":"[====>  ] 512B/1kB","id":"a1b2c3d4e5f6"})",
      R"({"status":"Pushed","progressDetail":{},"id":"a1b2c3d4e5f6"})",
      R"({"status":"v1: digest: sha256:2222222222222222222222222222222222222222222222222222222222222222 size: 527"})",
      R"({"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","Size":527}})",
  });
  write_config(str_cat(R"({"auths":{"localhost:5000":{"auth":")", base64_encode("u:p"), R"("}}})"));
  auto r = cli("push localhost:5000/x:v1");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "The push refers to repository [localhost:5000/x]\n"
            "a1b2c3d4e5f6: Preparing\n"
            "a1b2c3d4e5f6: Pushed\n"
            "v1: digest: sha256:2222222222222222222222222222222222222222222222222222222222222222 "
            "size: 527\n");
  auto reqs = daemon_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1.44/images/localhost%3A5000/x/push?tag=v1");
  EXPECT_EQ(registry_auth(reqs[0]),
            R"({"username":"u","password":"p","serveraddress":"localhost:5000"})");

  r = cli("image push -q localhost:5000/x");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "localhost:5000/x:latest\n");
  reqs = daemon_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].target, "/v1.44/images/localhost%3A5000/x/push?tag=latest");

  r = cli("push localhost:5000/x@sha256:" + std::string(64, 'b'));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "cannot push a digest reference")) << r.err;
}

// --- login / logout ------------------------------------------------------------

FakeDaemon::Handler auth_handler(std::string user, std::string password) {
  return [user, password](const Request& r) {
    if (r.target != "/v1.44/auth") return json_response(404, R"({"message":"page not found"})");
    if (contains(r.body, str_cat("\"username\":\"", user, "\"")) &&
        contains(r.body, str_cat("\"password\":\"", password, "\"")))
      return json_response(200, R"({"Status":"Login Succeeded","IdentityToken":""})");
    return json_response(
        401,
        R"({"message":"login attempt to http://localhost:5000/v2/ failed with status: 401 Unauthorized"})");
  };
}

TEST_F(CliRegistryOfflineTest, LoginStoresDockerStyleCredentialsKeepingOtherKeys) {
  serve(auth_handler("me", "pw:1"));
  write_config(
      R"({"psFormat":"table {{.ID}}","auths":{"other:1":{"auth":"eDp5"}},"proxies":{"default":{"httpProxy":"http://p:3128"}}})");
  std::string pw = "pw:1\n";
  auto r = cli("login -u me --password-stdin localhost:5000", &pw);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Login Succeeded\n");
  EXPECT_TRUE(contains(r.err, "stored unencrypted")) << r.err;
  auto reqs = daemon_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].body,
            R"({"username":"me","password":"pw:1","serveraddress":"localhost:5000"})");
  EXPECT_EQ(config_value("c['auths']['localhost:5000']['auth']"), base64_encode("me:pw:1"));
  EXPECT_EQ(config_value("c['auths']['other:1']['auth']"), "eDp5");
  EXPECT_EQ(config_value("c['psFormat']"), "table {{.ID}}");
  EXPECT_EQ(config_value("c['proxies']['default']['httpProxy']"), "http://p:3128");
  EXPECT_EQ(config_value("list(c.keys())"), "['psFormat', 'auths', 'proxies']");
  struct stat st {};
  ASSERT_EQ(::stat(config_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Indented with tabs, as docker writes it.
  EXPECT_TRUE(slurp(config_path()).starts_with("{\n\t\"psFormat\": ")) << slurp(config_path());
  // No temporary left behind.
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(config_dir())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST_F(CliRegistryOfflineTest, LoginWithPasswordFlagWarnsAndCreatesTheConfig) {
  serve(auth_handler("me", "pw"));
  auto r = cli("login -u me -p pw localhost:5000");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Login Succeeded\n");
  EXPECT_TRUE(
      contains(r.err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin."))
      << r.err;
  EXPECT_EQ(config_value("c"),
            str_cat("{'auths': {'localhost:5000': {'auth': '", base64_encode("me:pw"), "'}}}"));
}

TEST_F(CliRegistryOfflineTest, LoginRefusedLeavesTheConfigAlone) {
  serve(auth_handler("me", "pw"));
  write_config(R"({"psFormat":"x"})");
  std::string pw = "wrong";
  auto r = cli("login -u me --password-stdin localhost:5000", &pw);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "Error response from daemon: login attempt")) << r.err;
  EXPECT_TRUE(contains(r.err, "401 Unauthorized")) << r.err;
  EXPECT_EQ(slurp(config_path()), R"({"psFormat":"x"})");
}

TEST_F(CliRegistryOfflineTest, LoginArgumentErrors) {
  serve(auth_handler("me", "pw"));
  auto r = cli("login localhost:5000");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "Cannot perform an interactive login from a non TTY device"))
      << r.err;
  std::string pw = "pw";
  r = cli("login --password-stdin localhost:5000", &pw);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "Must provide --username with --password-stdin")) << r.err;
  r = cli("login -u me -p pw --password-stdin localhost:5000", &pw);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "--password and --password-stdin are mutually exclusive")) << r.err;
  r = cli("login a b");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(daemon_->requests().empty());
  write_config("not json");
  r = cli("login -u me -p pw localhost:5000");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "loading config file")) << r.err;
  EXPECT_EQ(slurp(config_path()), "not json");
}

TEST_F(CliRegistryOfflineTest, LoginPromptsOnATerminal) {
  serve(auth_handler("me", "pw"));
  // The pty carries the answers typed ahead: a user name and a password.
  int master = -1;
  winsize ws{};
  ws.ws_col = 100;
  ws.ws_row = 30;
  std::string home = work_ / "home", host = "BERTH_HOST=" + daemon_->host(),
              cfg = "DOCKER_CONFIG=" + config_dir(), homeenv = "HOME=" + home;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
  if (pid == 0) {
    ::alarm(30);
    const char* argv[] = {berth_.c_str(), "login", "localhost:5000", nullptr};
    const char* envp[] = {"PATH=/usr/bin:/bin", homeenv.c_str(), host.c_str(), cfg.c_str(),
                          nullptr};
    ::execve(argv[0], const_cast<char**>(argv), const_cast<char**>(envp));
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  std::string out;
  auto read_until = [&](const std::string& what) {
    char buf[1024];
    while (!contains(out, what)) {
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return false;
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0) return false;
      out.append(buf, static_cast<size_t>(n));
    }
    return true;
  };
  EXPECT_TRUE(read_until("Username: ")) << out;
  (void)!::write(master, "me\n", 3);
  EXPECT_TRUE(read_until("Password: ")) << out;
  (void)!::write(master, "pw\n", 3);
  EXPECT_TRUE(read_until("Login Succeeded")) << out;
  // The password was not echoed.
  EXPECT_FALSE(contains(out.substr(out.find("Password: ")), "pw")) << out;
  read_until("\x04never");
  ::close(master);
  int st = 0;
  ::waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
  EXPECT_EQ(config_value("c['auths']['localhost:5000']['auth']"), base64_encode("me:pw"));
}

TEST_F(CliRegistryOfflineTest, LoginReusesStoredCredentials) {
  serve(auth_handler("me", "pw"));
  write_config(
      str_cat(R"({"auths":{"localhost:5000":{"auth":")", base64_encode("me:pw"), R"("}}})"));
  auto r = cli("login localhost:5000");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Login Succeeded\n");
  EXPECT_TRUE(contains(r.err, "Authenticating with existing credentials")) << r.err;
}

TEST_F(CliRegistryOfflineTest, LogoutRemovesEveryFormOfTheServerKeepingTheRest) {
  write_config(str_cat(
      R"({"auths":{"localhost:5000":{"auth":"YTpi"},"https://localhost:5000":{"auth":"YTpi"},"other:1":{"auth":"eDp5"}},"psFormat":"x"})"));
  auto r = cli("logout localhost:5000");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Removing login credentials for localhost:5000\n");
  EXPECT_EQ(config_value("sorted(c['auths'].keys())"), "['other:1']");
  EXPECT_EQ(config_value("c['psFormat']"), "x");
  r = cli("logout localhost:5000");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "Not logged in to localhost:5000\n");
  r = cli("logout");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "Not logged in to https://index.docker.io/v1/\n");
}

}  // namespace
}  // namespace berth
