// start_client: the client side of the container start-latency benchmark
// (bench/start_latency.sh). Two modes:
//
//   start_client api --socket PATH [--image busybox] [--cmd true] [--clients K]
//                    [--rounds N] [--seconds T] [--warmup W] [--label L]
//     A whole `run --rm IMAGE CMD` through the Docker Engine API, as a client
//     does it: POST /containers/create (AutoRemove, NetworkMode none),
//     POST /containers/{id}/wait?condition=removed (the response head arrives
//     first, the body when the container is gone), POST /containers/{id}/start,
//     then the wait body. K client threads, each with two keep-alive
//     connections (one for create/start, one for the wait); N runs in all or
//     T seconds, whichever ends first.
//
//   start_client exec [--rounds N] [--seconds T] [--warmup W] [--label L] -- CMD ARGS...
//     Runs CMD N times (or for T seconds), one after the other, and times each
//     from fork to reaped exit; "{}" in an argument becomes the round number.
//     stdout goes to /dev/null; a non-zero exit counts as an error.
//
// Plain blocking sockets and no library of the tree, so that the client's own
// cost is a few syscalls per request. Output: one "RESULT key=value ..." line
// (times in microseconds; rate in runs per second), in api mode also a
// "PHASES ..." line with the medians of the client-visible steps. With berthd, a
// "DAEMON ..." line: the medians of its Berth-Start-Phases header (where the
// start's time went inside the daemon). --samples FILE
// appends every run to FILE, one a line: its time (µs), in api mode followed by
// its steps (create, wait head, start, start's 204 to the wait body).
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "start_client: %s\n", msg.c_str());
  std::exit(1);
}

struct Response {
  int status = 0;
  bool chunked = false;
  long content_length = -1;
  std::string start_phases;  // berthd's Berth-Start-Phases header
  std::string body;
};

// One keep-alive HTTP/1.1 connection over a unix socket.
class Conn {
 public:
  explicit Conn(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) die("socket: " + std::string(strerror(errno)));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) die("socket path too long");
    std::memcpy(a.sun_path, path.data(), path.size());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      die("connect " + path + ": " + strerror(errno));
    timeval tv{60, 0};  // a stuck daemon ends the bench instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool send_request(std::string_view method, std::string_view target, std::string_view body) {
    std::string req;
    req.reserve(256 + body.size());
    req.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: berth\r\n");
    if (!body.empty()) {
      req.append("Content-Type: application/json\r\nContent-Length: ")
          .append(std::to_string(body.size()))
          .append("\r\n\r\n")
          .append(body);
    } else {
      req.append("Content-Length: 0\r\n\r\n");
    }
    size_t off = 0;
    while (off < req.size()) {
      ssize_t n = ::send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads a status line and headers.
  bool read_head(Response& r) {
    size_t end;
    while ((end = in_.find("\r\n\r\n", pos_)) == std::string::npos)
      if (!fill()) return false;
    std::string_view head(in_.data() + pos_, end - pos_);
    pos_ = end + 4;
    r = Response{};
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return false;
    r.status = std::atoi(std::string(head.substr(9, 3)).c_str());
    size_t p = head.find("\r\n");
    while (p != std::string_view::npos) {
      size_t q = head.find("\r\n", p + 2);
      std::string_view line = head.substr(p + 2, q == std::string_view::npos ? q : q - p - 2);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (name == "content-length") r.content_length = std::atol(std::string(value).c_str());
        if (name == "transfer-encoding" && value.find("chunked") != std::string_view::npos)
          r.chunked = true;
        if (name == "berth-start-phases") r.start_phases = std::string(value);
      }
      p = q;
    }
    return true;
  }

  bool read_body(Response& r) {
    if (r.chunked) {
      for (;;) {
        size_t eol;
        while ((eol = in_.find("\r\n", pos_)) == std::string::npos)
          if (!fill()) return false;
        size_t size = std::strtoul(in_.c_str() + pos_, nullptr, 16);
        pos_ = eol + 2;
        if (!need(size + 2)) return false;
        r.body.append(in_, pos_, size);
        pos_ += size + 2;
        if (size == 0) return true;  // no trailers from berthd or dockerd
      }
    }
    if (r.content_length > 0) {
      if (!need(static_cast<size_t>(r.content_length))) return false;
      r.body.assign(in_, pos_, static_cast<size_t>(r.content_length));
      pos_ += static_cast<size_t>(r.content_length);
    }
    return true;
  }

  bool round_trip(std::string_view method, std::string_view target, std::string_view body,
                  Response& r) {
    return send_request(method, target, body) && read_head(r) && read_body(r);
  }

 private:
  bool fill() {
    if (pos_ > 0 && pos_ == in_.size()) {
      in_.clear();
      pos_ = 0;
    }
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      in_.append(buf, static_cast<size_t>(n));
      return true;
    }
  }
  bool need(size_t n) {
    while (in_.size() - pos_ < n)
      if (!fill()) return false;
    return true;
  }

  int fd_ = -1;
  std::string in_;
  size_t pos_ = 0;
};

std::string json_string_field(const std::string& body, const std::string& key) {
  std::string k = "\"" + key + "\":";
  size_t p = body.find(k);
  if (p == std::string::npos) return {};
  p = body.find('"', p + k.size());
  if (p == std::string::npos) return {};
  size_t q = body.find('"', p + 1);
  return q == std::string::npos ? std::string() : body.substr(p + 1, q - p - 1);
}

long json_number_field(const std::string& body, const std::string& key) {
  std::string k = "\"" + key + "\":";
  size_t p = body.find(k);
  if (p == std::string::npos) return -999;
  return std::strtol(body.c_str() + p + k.size(), nullptr, 10);
}

struct Options {
  std::string mode, socket, image = "busybox", cmd = "true", label, samples;
  int clients = 1, rounds = 200, warmup = 3;
  double seconds = 60;
  std::vector<std::string> argv;
};

// One sample of a whole run, with the client-visible steps (ns).
struct Sample {
  uint64_t total, create, wait_head, start, exit_removed;
  std::string daemon_phases;  // "name=µs,..." from berthd, if it said
};

double pct(std::vector<uint64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  i = std::clamp<size_t>(i, 1, v.size()) - 1;
  return static_cast<double>(v[i]) / 1000.0;
}

// Appended, so that several passes pool their samples: one run a line, its
// total time first, then its steps (µs).
void append_samples(const Options& o, const std::vector<std::vector<uint64_t>>& rows) {
  if (o.samples.empty()) return;
  FILE* f = std::fopen(o.samples.c_str(), "a");
  if (!f) die("cannot open " + o.samples);
  for (auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i)
      std::fprintf(f, "%s%.1f", i ? " " : "", static_cast<double>(row[i]) / 1000.0);
    std::fputc('\n', f);
  }
  std::fclose(f);
}

void report(const Options& o, const std::vector<uint64_t>& totals, int errors, double elapsed_s) {
  double sum = 0;
  for (auto t : totals) sum += static_cast<double>(t);
  double n = static_cast<double>(totals.size());
  std::printf(
      "RESULT label=%s clients=%d n=%zu errors=%d seconds=%.3f rate=%.1f median_us=%.0f "
      "p90_us=%.0f p99_us=%.0f mean_us=%.0f min_us=%.0f max_us=%.0f\n",
      o.label.c_str(), o.clients, totals.size(), errors, elapsed_s, n / elapsed_s, pct(totals, 0.5),
      pct(totals, 0.9), pct(totals, 0.99), n ? sum / n / 1000.0 : 0.0, pct(totals, 0.0),
      pct(totals, 1.0));
}

// create + wait(removed) + start + wait body; false (with a message) on error.
bool one_run(Conn& api, Conn& waiter, const std::string& create_body, Sample& s, std::string& err) {
  Response r;
  uint64_t t0 = now_ns();
  if (!api.round_trip("POST", "/v1.44/containers/create", create_body, r)) {
    err = "create: connection failed";
    return false;
  }
  if (r.status != 201) {
    err = "create: HTTP " + std::to_string(r.status) + " " + r.body;
    return false;
  }
  std::string id = json_string_field(r.body, "Id");
  uint64_t t1 = now_ns();
  Response w;
  if (!waiter.send_request("POST", "/v1.44/containers/" + id + "/wait?condition=removed", "") ||
      !waiter.read_head(w) || w.status != 200) {
    err = "wait: HTTP " + std::to_string(w.status);
    return false;
  }
  uint64_t t2 = now_ns();
  if (!api.round_trip("POST", "/v1.44/containers/" + id + "/start", "", r) || r.status != 204) {
    err = "start: HTTP " + std::to_string(r.status) + " " + r.body;
    return false;
  }
  uint64_t t3 = now_ns();
  if (!waiter.read_body(w)) {
    err = "wait body: connection failed";
    return false;
  }
  uint64_t t4 = now_ns();
  long code = json_number_field(w.body, "StatusCode");
  if (code != 0) {
    err = "wait: " + w.body;
    return false;
  }
  s = Sample{t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, r.start_phases};
  return true;
}

int run_api(const Options& o) {
  std::string create_body = "{\"Image\":\"" + o.image + "\",\"Cmd\":[\"" + o.cmd +
                            "\"],\"AttachStdin\":false,\"AttachStdout\":false,"
                            "\"AttachStderr\":false,\"Tty\":false,\"OpenStdin\":false,"
                            "\"HostConfig\":{\"AutoRemove\":true,\"NetworkMode\":\"none\"}}";
  {  // warm-up, not counted: first connection, image lookup, caches
    Conn api(o.socket), waiter(o.socket);
    for (int i = 0; i < o.warmup; ++i) {
      Sample s;
      std::string err;
      if (!one_run(api, waiter, create_body, s, err)) die("warm-up run failed: " + err);
    }
  }
  std::mutex mu;
  std::vector<Sample> samples;
  samples.reserve(static_cast<size_t>(o.rounds));
  std::atomic<int> claimed{0}, errors{0};
  uint64_t start = now_ns();
  uint64_t deadline = start + static_cast<uint64_t>(o.seconds * 1e9);
  std::vector<std::thread> threads;
  for (int k = 0; k < o.clients; ++k) {
    threads.emplace_back([&] {
      Conn api(o.socket), waiter(o.socket);
      std::vector<Sample> mine;
      while (claimed.fetch_add(1) < o.rounds && now_ns() < deadline && errors.load() < 5) {
        Sample s;
        std::string err;
        if (one_run(api, waiter, create_body, s, err)) {
          mine.push_back(s);
        } else {
          errors.fetch_add(1);
          std::fprintf(stderr, "start_client: %s\n", err.c_str());
          break;  // the connections may be out of step now
        }
      }
      std::lock_guard lock(mu);
      samples.insert(samples.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = static_cast<double>(now_ns() - start) / 1e9;
  std::vector<uint64_t> total, create, wait_head, st, exit_removed;
  std::vector<std::vector<uint64_t>> rows;
  for (auto& s : samples) {
    rows.push_back({s.total, s.create, s.wait_head, s.start, s.exit_removed});
    total.push_back(s.total);
    create.push_back(s.create);
    wait_head.push_back(s.wait_head);
    st.push_back(s.start);
    exit_removed.push_back(s.exit_removed);
  }
  append_samples(o, rows);
  report(o, total, errors.load(), elapsed);
  std::printf(
      "PHASES label=%s create_us=%.0f wait_head_us=%.0f start_us=%.0f exit_removed_us=%.0f "
      "(medians; exit_removed = start's 204 to the wait body)\n",
      o.label.c_str(), pct(create, 0.5), pct(wait_head, 0.5), pct(st, 0.5), pct(exit_removed, 0.5));
  // The daemon's own breakdown of the start (berthd only), in its order.
  std::vector<std::string> names;
  std::map<std::string, std::vector<uint64_t>> by_phase;
  for (auto& s : samples) {
    size_t p = 0;
    while (p < s.daemon_phases.size()) {
      size_t comma = s.daemon_phases.find(',', p);
      if (comma == std::string::npos) comma = s.daemon_phases.size();
      std::string item = s.daemon_phases.substr(p, comma - p);
      p = comma + 1;
      size_t eq = item.find('=');
      if (eq == std::string::npos) continue;
      std::string name = item.substr(0, eq);
      if (!by_phase.count(name)) names.push_back(name);
      // µs in the header; pct() reports ns / 1000.
      by_phase[name].push_back(std::strtoull(item.c_str() + eq + 1, nullptr, 10) * 1000);
    }
  }
  if (!names.empty()) {
    std::printf("DAEMON label=%s", o.label.c_str());
    for (auto& n : names) std::printf(" %s_us=%.0f", n.c_str(), pct(by_phase[n], 0.5));
    std::printf(" (medians of berthd's Berth-Start-Phases)\n");
  }
  return errors.load() ? 1 : 0;
}

int run_exec(const Options& o) {
  if (o.argv.empty()) die("exec: no command");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  auto once = [&](int round) -> std::pair<bool, uint64_t> {
    std::vector<std::string> args = o.argv;
    for (auto& a : args)
      for (size_t p; (p = a.find("{}")) != std::string::npos;)
        a.replace(p, 2, std::to_string(round));
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    uint64_t t0 = now_ns();
    pid_t pid;
    if (posix_spawnp(&pid, av[0], &fa, nullptr, av.data(), environ) != 0)
      die("cannot run " + args[0]);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    uint64_t t = now_ns() - t0;
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) std::fprintf(stderr, "start_client: %s: exit status 0x%x\n", args[0].c_str(), st);
    return {ok, t};
  };
  for (int i = 0; i < o.warmup; ++i)
    if (!once(-1 - i).first) die("warm-up run failed");
  std::vector<uint64_t> totals;
  int errors = 0;
  uint64_t start = now_ns();
  uint64_t deadline = start + static_cast<uint64_t>(o.seconds * 1e9);
  for (int i = 0; i < o.rounds && now_ns() < deadline && errors < 5; ++i) {
    auto [ok, t] = once(i);
    if (ok)
      totals.push_back(t);
    else
      ++errors;
  }
  std::vector<std::vector<uint64_t>> rows;
  for (auto t : totals) rows.push_back({t});
  append_samples(o, rows);
  report(o, totals, errors, static_cast<double>(now_ns() - start) / 1e9);
  posix_spawn_file_actions_destroy(&fa);
  return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) die("usage: start_client api|exec [options] (see the source's head)");
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--") {
      o.argv.assign(argv + i + 1, argv + argc);
      break;
    }
    if (a == "--socket")
      o.socket = val();
    else if (a == "--image")
      o.image = val();
    else if (a == "--cmd")
      o.cmd = val();
    else if (a == "--label")
      o.label = val();
    else if (a == "--samples")
      o.samples = val();
    else if (a == "--clients")
      o.clients = std::max(1, std::atoi(val().c_str()));
    else if (a == "--rounds")
      o.rounds = std::atoi(val().c_str());
    else if (a == "--warmup")
      o.warmup = std::atoi(val().c_str());
    else if (a == "--seconds")
      o.seconds = std::atof(val().c_str());
    else
      die("unknown option " + a);
  }
  if (o.label.empty()) o.label = o.mode;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.mode == "api") {
    if (o.socket.empty()) die("api: --socket is required");
    return run_api(o);
  }
  if (o.mode == "exec") return run_exec(o);
  die("unknown mode " + o.mode);
}
