// berth start, and the attach / wait / start sequence it shares with run:
// the hijacked attach stream, the wait put in place before the start, a raw
// terminal with -t, the terminal size sent to the container, and signals
// forwarded to it (docker's --sig-proxy).
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>

#include "core/base/json/reader.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "io/reactor.h"
#include "tools/cli/cli.h"
#include "tools/cli/containers.h"
#include "tools/cli/query.h"
#include "tools/cli/streams.h"

namespace berth::cli {

using namespace std::chrono_literals;

// --- SplitFlags ------------------------------------------------------------------------

SplitFlags& SplitFlags::add_bool(char short_name, std::string long_name, bool* out,
                                 std::string help) {
  names_.emplace_back(short_name, long_name);
  fs_.add_bool(short_name, std::move(long_name), out, std::move(help));
  return *this;
}

SplitFlags& SplitFlags::add_string(char short_name, std::string long_name, std::string* out,
                                   std::string value_name, std::string help) {
  names_.emplace_back(short_name, long_name);
  value_long_.insert(long_name);
  if (short_name) value_short_.push_back(short_name);
  if (short_name == 'h') hostname_h_ = true;
  fs_.add_string(short_name, std::move(long_name), out, std::move(value_name), std::move(help));
  return *this;
}

SplitFlags& SplitFlags::add_list(char short_name, std::string long_name,
                                 std::vector<std::string>* out, std::string value_name,
                                 std::string help) {
  names_.emplace_back(short_name, long_name);
  value_long_.insert(long_name);
  if (short_name) value_short_.push_back(short_name);
  fs_.add_list(short_name, std::move(long_name), out, std::move(value_name), std::move(help));
  return *this;
}

std::optional<int> SplitFlags::parse(const Args& args) {
  Args flag_args;
  size_t i = 0;
  auto long_of = [&](char c) -> std::string {
    for (const auto& [s, l] : names_)
      if (s == c) return l;
    return {};
  };
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    if (a.starts_with("--")) {
      std::string name = a.substr(2);
      bool has_value = name.find('=') != std::string::npos;
      if (has_value) name.resize(name.find('='));
      changed_.insert(name);
      flag_args.push_back(a);
      if (!has_value && value_long_.count(name) && i + 1 < args.size())
        flag_args.push_back(args[++i]);
      continue;
    }
    if (a == "-h" && hostname_h_) {
      changed_.insert("hostname");
      flag_args.push_back("--hostname");
      if (i + 1 < args.size()) flag_args.push_back(args[++i]);
      continue;
    }
    flag_args.push_back(a);
    for (size_t j = 1; j < a.size(); ++j) {
      changed_.insert(long_of(a[j]));
      if (value_short_.find(a[j]) != std::string::npos) {
        if (j + 1 == a.size() && i + 1 < args.size()) flag_args.push_back(args[++i]);
        break;
      }
    }
  }
  flag_args.push_back("--");
  flag_args.insert(flag_args.end(), args.begin() + static_cast<long>(i), args.end());
  return fs_.parse(flag_args);
}

// --- shared helpers --------------------------------------------------------------------

int start_error_code(const std::string& message) {
  if (contains(message, "executable file not found") ||
      contains(message, "no such file or directory") ||
      contains(message, "system cannot find the file specified"))
    return 127;
  if (contains(message, "permission denied") || contains(message, "is a directory")) return 126;
  return 125;
}

io::Task<bool> confirm_prompt(std::string message) {
  std::printf("%s\nAre you sure you want to continue? [y/N] ", message.c_str());
  std::fflush(stdout);
  std::string line;
  char c = 0;
  for (;;) {
    int n = co_await io::read(0, &c, 1);
    if (n <= 0 || c == '\n') break;
    line.push_back(c);
  }
  std::string answer = to_lower(trim(line));
  co_return answer == "y" || answer == "yes";
}

io::Task<Result<ContainerFacts>> inspect_facts(Cli& cli, std::string name) {
  std::string target = str_cat(kApi, "/containers/", path_escape(name), "/json");
  auto r = co_await cli.client.call("GET", target);
  if (!r) co_return std::unexpected(r.error());
  auto p = json::parse(r->body);
  if (!p) co_return std::unexpected(p.error());
  ContainerFacts f;
  auto res =
      json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (json::is_null(v)) return {};
        if (k == "Id") f.id = BERTH_TRY(json::get_string(v, k));
        if (k == "Config") {
          return json::for_each_field(v, k,
                                      [&](std::string_view ck, json::od::value cv) -> Result<void> {
                                        if (ck == "Tty") f.tty = BERTH_TRY(json::get_bool(cv, ck));
                                        if (ck == "OpenStdin")
                                          f.open_stdin = BERTH_TRY(json::get_bool(cv, ck));
                                        return {};
                                      });
        }
        if (k == "HostConfig") {
          return json::for_each_field(v, k,
                                      [&](std::string_view hk, json::od::value hv) -> Result<void> {
                                        if (hk == "AutoRemove")
                                          f.auto_remove = BERTH_TRY(json::get_bool(hv, hk));
                                        return {};
                                      });
        }
        if (k == "State") {
          return json::for_each_field(v, k,
                                      [&](std::string_view sk, json::od::value sv) -> Result<void> {
                                        if (sk == "Running")
                                          f.running = BERTH_TRY(json::get_bool(sv, sk));
                                        return {};
                                      });
        }
        return {};
      });
  if (!res) co_return std::unexpected(res.error());
  co_return f;
}

namespace {

// The controlling terminal in raw mode (moby/term's MakeRaw) until restored
// or destroyed.
class RawTerminal {
 public:
  ~RawTerminal() { restore(); }
  void enable(int fd) {
    termios t{};
    if (::tcgetattr(fd, &t) != 0) return;
    saved_ = t;
    fd_ = fd;
    ::cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    ::tcsetattr(fd, TCSANOW, &t);
  }
  void restore() {
    if (fd_ < 0) return;
    ::tcsetattr(fd_, TCSANOW, &saved_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  termios saved_{};
};

io::Task<Result<void>> resize_tty(api::client::Client& client, const std::string& id) {
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0)
    co_return Result<void>{};
  Query q;
  q.add("h", std::to_string(ws.ws_row)).add("w", std::to_string(ws.ws_col));
  std::string target = str_cat(kApi, "/containers/", id, "/resize", q.str());
  auto r = co_await client.call("POST", target);
  if (!r) co_return std::unexpected(r.error());
  co_return Result<void>{};
}

// Signals the CLI receives while attached: SIGWINCH resizes the container's
// terminal, the others go to the container (docker's --sig-proxy). Its own
// connection, so it never interleaves with another call.
struct SignalWatch {
  explicit SignalWatch(io::Endpoint ep) : client(std::move(ep)) {}
  unique_fd fd;
  api::client::Client client;
  std::string id;
  sigset_t old_mask{};
};

io::Task<void> watch_signals(std::shared_ptr<SignalWatch> w) {
  for (;;) {
    int ready = co_await io::poll(w->fd.get(), POLLIN);
    if (ready < 0 && ready != -EINTR) co_return;
    signalfd_siginfo si{};
    ssize_t n = ::read(w->fd.get(), &si, sizeof si);
    if (n != static_cast<ssize_t>(sizeof si)) continue;
    int sig = static_cast<int>(si.ssi_signo);
    if (sig == SIGWINCH) {
      auto r = co_await resize_tty(w->client, w->id);
      (void)r;
      continue;
    }
    Query q;
    q.add("signal", std::to_string(sig));
    std::string target = str_cat(kApi, "/containers/", w->id, "/kill", q.str());
    auto r = co_await w->client.call("POST", target);
    (void)r;
  }
}

std::shared_ptr<SignalWatch> watch_signals_for(Cli& cli, const std::string& id, bool forward,
                                               bool resize) {
  if (!forward && !resize) return nullptr;
  sigset_t set;
  sigemptyset(&set);
  if (forward) {
    for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM}) sigaddset(&set, s);
  }
  if (resize) sigaddset(&set, SIGWINCH);
  auto w = std::make_shared<SignalWatch>(cli.client.endpoint());
  w->id = id;
  if (::sigprocmask(SIG_BLOCK, &set, &w->old_mask) != 0) return nullptr;
  w->fd.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!w->fd) {
    ::sigprocmask(SIG_SETMASK, &w->old_mask, nullptr);
    return nullptr;
  }
  io::spawn(watch_signals(w));
  return w;
}

// POST whose 304 (already started, already stopped) is no error, as docker's
// client treats it.
io::Task<Result<void>> post_action(Cli& cli, std::string target) {
  auto r = co_await cli.client.request("POST", std::move(target));
  if (!r) co_return std::unexpected(r.error());
  if (r->status == 304 || (r->status >= 200 && r->status < 300)) co_return Result<void>{};
  co_return std::unexpected(api::client::error_from_response(*r));
}

// The exit code from a wait answer; 125 (with docker's message) when the
// wait itself failed.
io::Task<int> wait_status(Result<std::unique_ptr<io::http::ClientConnection>>& waiter) {
  if (!waiter) {
    std::fprintf(stderr, "error waiting for container: %s\n", waiter.error().message.c_str());
    co_return 125;
  }
  auto body = co_await (*waiter)->read_body_all(1 << 20);
  if (!body) {
    std::fprintf(stderr, "error waiting for container: %s\n", body.error().message.c_str());
    co_return 125;
  }
  int64_t code = 0;
  std::string message;
  auto p = json::parse(*body);
  if (!p) {
    std::fprintf(stderr, "error waiting for container: %s\n", p.error().message.c_str());
    co_return 125;
  }
  auto res =
      json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (json::is_null(v)) return {};
        if (k == "StatusCode") code = BERTH_TRY(json::get_int(v, k));
        if (k == "Error") {
          return json::for_each_field(v, k,
                                      [&](std::string_view ek, json::od::value ev) -> Result<void> {
                                        if (ek == "Message" && !json::is_null(ev))
                                          message = BERTH_TRY(json::get_string(ev, ek));
                                        return {};
                                      });
        }
        return {};
      });
  if (!res) message = res.error().message;
  if (!message.empty()) {
    std::fprintf(stderr, "Error waiting for container: %s\n", message.c_str());
    co_return 125;
  }
  co_return static_cast<int>(code);
}

}  // namespace

io::Task<int> attach_start_wait(Cli& cli, StartPlan plan) {
  const std::string base = str_cat(kApi, "/containers/", plan.id);
  std::shared_ptr<AttachStream> stream;
  RawTerminal raw;
  if (plan.attach_output || plan.attach_stdin) {
    Query q;
    q.add("stream", "1");
    if (plan.attach_stdin) q.add("stdin", "1");
    if (plan.attach_output) q.add("stdout", "1").add("stderr", "1");
    auto conn = co_await cli.client.hijack("POST", str_cat(base, "/attach", q.str()));
    if (!conn) co_return report(conn.error());
    stream = std::make_shared<AttachStream>();
    stream->conn = std::move(*conn);
    stream->tty = plan.tty;
    std::fflush(stdout);
    std::fflush(stderr);
    if (plan.tty && plan.attach_stdin && cli.stdin_tty) raw.enable(0);
  }
  // The wait is in place before the start (the daemon answers its head once
  // it is), so even an instant exit is seen.
  Result<std::unique_ptr<io::http::ClientConnection>> waiter =
      std::unexpected(Error{Errc::internal, 0, "not waiting"});
  bool waiting = plan.attach_output || plan.auto_remove;
  if (waiting) {
    Query q;
    q.add("condition", plan.auto_remove ? "removed" : "next-exit");
    waiter = co_await cli.client.open_stream("POST", str_cat(base, "/wait", q.str()));
  }
  if (plan.run && !plan.attach_output) {
    std::printf("%s\n", plan.id.c_str());
    std::fflush(stdout);
  }
  auto started = co_await post_action(cli, base + "/start");
  if (!started) {
    raw.restore();
    // With --rm the daemon removes what failed to start: let it finish.
    if (plan.auto_remove && waiter) {
      int ignored = co_await wait_status(waiter);
      (void)ignored;
    }
    const std::string& msg = started.error().message;
    if (plan.run) {
      std::string m = msg;
      while (!m.empty() && m.back() == '.') m.pop_back();
      std::fprintf(stderr, "berth: %s\n\nRun 'berth run --help' for more information\n", m.c_str());
    } else {
      std::fprintf(stderr, "%s\n", msg.c_str());
    }
    co_return plan.run ? start_error_code(msg) : 1;
  }
  // Stdin flows once the container runs (docker's CLI starts at once; the
  // daemon should hold early input, but sending it after the start needs
  // nothing of it and loses nothing: the attach is already in place).
  if (stream) io::spawn(pump_stdin(stream, plan.attach_stdin));
  bool resize = plan.tty && stream && cli.stdout_tty;
  auto signals = watch_signals_for(cli, plan.id, plan.sig_proxy && (plan.run || !plan.tty), resize);
  if (resize) {
    // The container's terminal may not be there yet right after the start.
    for (int attempt = 0; attempt < 10; ++attempt) {
      auto r = co_await resize_tty(cli.client, plan.id);
      if (r) break;
      io::Duration pause = std::chrono::milliseconds(10 * (attempt + 1));
      co_await io::sleep(pause);
    }
  }
  if (!plan.attach_output) co_return 0;
  auto out = co_await pump_output(stream);
  raw.restore();
  if (!out) co_return report(out.error());
  co_return co_await wait_status(waiter);
}

// --- start -----------------------------------------------------------------------------

io::Task<int> cmd_start(Cli& cli, Args args) {
  bool attach = false, interactive = false;
  FlagSet fs(cli.path, "[OPTIONS] CONTAINER [CONTAINER...]",
             "Start one or more stopped containers");
  fs.add_bool('a', "attach", &attach, "Attach STDOUT/STDERR and forward signals")
      .add_bool('i', "interactive", &interactive, "Attach container's STDIN");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  if (attach || interactive) {
    if (fs.args().size() > 1) {
      std::fprintf(stderr, "you cannot start and attach multiple containers at once\n");
      co_return 1;
    }
    auto facts = co_await inspect_facts(cli, fs.args()[0]);
    if (!facts) co_return report(facts.error());
    StartPlan plan;
    plan.id = facts->id;
    plan.tty = facts->tty;
    plan.attach_stdin = interactive && facts->open_stdin;
    plan.attach_output = true;
    plan.auto_remove = facts->auto_remove;
    plan.sig_proxy = !facts->tty;
    co_return co_await attach_start_wait(cli, std::move(plan));
  }
  std::vector<std::string> failed;
  for (const auto& name : fs.args()) {
    auto r = co_await post_action(cli, str_cat(kApi, "/containers/", path_escape(name), "/start"));
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      failed.push_back(name);
      continue;
    }
    std::printf("%s\n", name.c_str());
  }
  if (failed.empty()) co_return 0;
  std::fflush(stdout);
  std::fprintf(stderr, "Error: failed to start containers: %s\n", join(failed, ", ").c_str());
  co_return 1;
}

}  // namespace berth::cli
