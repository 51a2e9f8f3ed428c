// The berth CLI's container verbs against a berthd on a private root: run
// (output, exit codes 0/3/125/127, --rm, -d, -i with piped stdin, flags after
// the image belonging to the command), create/start, ps, logs, stop, rm,
// inspect, wait, rename, commit, export, top and prune; docker's output
// shapes, messages and exit codes. The image is the busybox rootfs of
// tools/make-busybox-image.sh; the tests skip without a static busybox and
// need root to run containers.
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "core/base/strings.h"
#include "tests/testlib/testlib.h"

namespace berth {
namespace {

using testing::Daemon;
using testing::run_command;
using testing::TempDir;

struct CliRun {
  int status = -1;
  std::string out, err;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// stderr without the create warnings a host without bridge networking gives.
std::string without_warnings(const std::string& err) {
  std::string out;
  for (auto line : split(err, '\n'))
    if (!line.empty() && !line.starts_with("WARNING:")) out += str_cat(line, "\n");
  return out;
}

const char* kImage = "berth/busybox";
const std::regex kLongId("[0-9a-f]{64}\n");

class CliContainersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("berth-cli-containers");
    tar_ = *dir_ / "busybox.tar";
    auto r = run_command(str_cat(testing::source_dir(), "/tools/make-busybox-image.sh ", tar_));
    if (r.status != 0) {
      skip_reason_ = new std::string("cannot build the busybox rootfs: " + r.output);
      tar_.clear();
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
    delete skip_reason_;
    skip_reason_ = nullptr;
  }

  void SetUp() override {
    if (tar_.empty()) GTEST_SKIP() << *skip_reason_;
    BERTH_REQUIRE_ROOT();
    ASSERT_TRUE(daemon_.start());
    auto r = cli(str_cat("import -c 'CMD [\"sh\"]' ", tar_, " ", kImage));
    ASSERT_EQ(r.status, 0) << r.err;
  }
  void TearDown() override {
    if (daemon_.pid() > 0) {
      // Running containers go with the daemon's stop; remove them first so
      // the daemon's root is clean for the temp dir's removal.
      sh("BERTH rm -f $(BERTH ps -aq) >/dev/null 2>&1");
      EXPECT_EQ(daemon_.stop(), 0) << daemon_.log();
    }
  }

  // Runs a shell command line in which "BERTH" stands for the berth binary
  // talking to the test daemon; stdout and stderr apart.
  CliRun sh(const std::string& line) {
    std::string berth = str_cat("env BERTH_HOST=", daemon_.host_url(), " timeout 120 ",
                                testing::build_dir(), "/berth");
    std::string cmd = line;
    for (size_t pos = 0; (pos = cmd.find("BERTH", pos)) != std::string::npos; pos += berth.size())
      cmd.replace(pos, 5, berth);
    std::string err_path = work_ / "stderr";
    // run_command adds 2>&1 after the command: the inner group keeps stderr
    // apart. (No subshell: dash drops the redirection of a subshell that
    // ends a group.)
    auto r = run_command(str_cat("{ { ", cmd, "; } 2>", err_path, "; }"));
    return CliRun{r.status, r.output, read_file(err_path)};
  }
  CliRun cli(const std::string& args) { return sh("BERTH " + args + " </dev/null"); }
  // `berth run --network none` (no bridge warnings) with the test image.
  CliRun run(const std::string& opts, const std::string& cmd = "") {
    return cli(str_cat("run --network none ", opts, " ", kImage, " ", cmd));
  }

  static TempDir* dir_;
  static std::string tar_;
  static std::string* skip_reason_;
  TempDir work_{"berth-cli-ct-work"};
  Daemon daemon_;
};

TempDir* CliContainersTest::dir_ = nullptr;
std::string CliContainersTest::tar_;
std::string* CliContainersTest::skip_reason_ = nullptr;

TEST_F(CliContainersTest, RunPrintsTheOutputAndExitsWithTheContainersCode) {
  auto r = run("--rm", "echo hello");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(without_warnings(r.err), "");

  // stdout and stderr stay apart without a TTY.
  r = run("--rm", "sh -c 'echo out; echo err >&2'");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(without_warnings(r.err), "err\n");

  r = run("--rm", "sh -c 'exit 3'");
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.out, "");

  // Flags after the image are the command's.
  r = run("--rm", "echo -n no-newline");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "no-newline");

  // Environment, working directory and user reach the process.
  r = run("--rm -e A=1 -e B=two -w /tmp -u nobody", "sh -c 'echo $A $B $(pwd) $(id -u)'");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1 two /tmp 65534\n");
}

TEST_F(CliContainersTest, RunRefusalsExitWithDockersCodes) {
  // A command that does not exist: 127, the daemon's reason on stderr.
  auto r = run("", "/nonexistent");
  EXPECT_EQ(r.status, 127) << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("^berth: Error response from daemon: .*"
                                                  "(no such file or directory|not found)")))
      << r.err;
  r = run("--rm", "nosuchcommand");
  EXPECT_EQ(r.status, 127) << r.err;
  // With --rm, what failed to start is gone; the first one stays, created.
  EXPECT_EQ(cli("ps -a --format '{{.Command}} {{.State}}'").out, "\"/nonexistent\" created\n");

  // A missing image: docker's message, 125.
  r = cli("run --network none nosuch/image:1.0 true");
  EXPECT_EQ(r.status, 125) << r.err;
  EXPECT_TRUE(
      r.err.starts_with("Unable to find image 'nosuch/image:1.0' locally\nberth: Error "
                        "response from daemon: "))
      << r.err;
  r = cli("run --pull never --network none nosuch true");
  EXPECT_EQ(r.status, 125) << r.err;
  EXPECT_TRUE(std::regex_match(r.err, std::regex("berth: Error response from daemon: No such "
                                                 "image: nosuch(:latest)?\n\nRun 'berth run "
                                                 "--help' for more information\n")))
      << r.err;

  // Bad flags: 125 with the usage; a missing image argument: 1.
  r = cli("run --nosuch x");
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(r.err.starts_with("unknown flag: --nosuch\n\nUsage:  berth run [OPTIONS] IMAGE "))
      << r.err;
  r = cli(str_cat("run -m lots ", kImage));
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(
      r.err.starts_with("invalid argument \"lots\" for \"-m, --memory\" flag: invalid "
                        "size: 'lots'\n\nUsage:  berth run "))
      << r.err;
  r = cli("run");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.err.starts_with("berth: 'berth run' requires at least 1 argument")) << r.err;
}

TEST_F(CliContainersTest, RunWithRmLeavesNothing) {
  auto r = run("--rm", "true");
  EXPECT_EQ(r.status, 0) << r.err;
  r = run("--rm", "sh -c 'exit 7'");
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_EQ(cli("ps -aq").out, "");
}

TEST_F(CliContainersTest, InteractiveRunReadsPipedStdin) {
  auto r = sh(str_cat("echo hello | BERTH run -i --rm --network none ", kImage, " cat"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  // Stdin's end is the container's: wc sees all of it, then exits.
  r = sh(str_cat("seq 1 20000 | BERTH run -i --rm --network none ", kImage, " wc -l"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::string(trim(r.out)), "20000");
}

TEST_F(CliContainersTest, DetachedLogsPsStopRm) {
  auto r =
      run("-d --name ticker", "sh -c 'echo started; echo oops >&2; while true; do sleep 1; done'");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(std::regex_match(r.out, kLongId)) << r.out;
  std::string id = r.out.substr(0, 64);

  r = cli("ps");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(
      r.out.starts_with("CONTAINER ID   IMAGE           COMMAND                  CREATED  "))
      << r.out;
  std::string row =
      str_cat("\n", id.substr(0, 12),
              "   berth/busybox   \"sh -c echo started;…\"   .* ago +Up .* +ticker\n");
  EXPECT_TRUE(std::regex_search(r.out, std::regex(row))) << r.out;
  EXPECT_EQ(cli("ps -q").out, id.substr(0, 12) + "\n");
  EXPECT_EQ(cli("ps -q --no-trunc").out, id + "\n");
  EXPECT_EQ(cli("container ls --format '{{.Names}} {{.State}}'").out, "ticker running\n");
  r = cli("ps --format json");
  EXPECT_TRUE(r.out.starts_with("{\"Command\":\"\\\"sh -c echo started;…\\\"\",")) << r.out;

  // The output is in the log once the wait returns... the container is still
  // running, so poll the log (bounded) for its first lines.
  std::string logs;
  for (int i = 0; i < 200 && logs.find("started") == std::string::npos; ++i) {
    logs = cli("logs ticker").out;
    if (logs.find("started") == std::string::npos) ::usleep(50000);
  }
  r = cli("logs ticker");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "started\n");
  EXPECT_EQ(r.err, "oops\n");
  r = cli("logs -t ticker");
  EXPECT_TRUE(std::regex_match(r.out, std::regex("20[0-9-]+T[0-9:.]+Z started\n"))) << r.out;
  EXPECT_EQ(cli("logs --tail 0 ticker").out, "");

  r = cli("stop -t 1 ticker");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ticker\n");
  EXPECT_EQ(cli("ps -q").out, "");
  r = cli("ps -a --format '{{.Names}}|{{.Status}}'");
  EXPECT_TRUE(std::regex_match(r.out, std::regex("ticker\\|Exited \\([0-9]+\\) .* ago\n")))
      << r.out;
  EXPECT_EQ(cli("ps -aq -n 1").out, id.substr(0, 12) + "\n");
  EXPECT_EQ(cli("ps -l -q").out, id.substr(0, 12) + "\n");

  r = cli("rm ticker");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ticker\n");
  EXPECT_EQ(cli("ps -aq").out, "");

  // Missing containers: the daemon's message, exit 1; rm -f does not mind.
  r = cli("rm ticker");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such container: ticker\n");
  r = cli("rm -f ticker");
  EXPECT_EQ(r.status, 0);
  r = cli("stop nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such container: nosuch\n");
  r = cli("logs nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such container: nosuch\n");
}

TEST_F(CliContainersTest, CreateStartWaitInspectRename) {
  auto r = cli(
      str_cat("create --network none --name first ", kImage, " sh -c 'echo from-start; exit 4'"));
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(std::regex_match(r.out, kLongId)) << r.out;
  std::string id = r.out.substr(0, 64);
  EXPECT_EQ(cli("ps -a --format '{{.Names}} {{.State}}'").out, "first created\n");

  r = cli("inspect first");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("[\n    {\n        \"Id\": \"" + id + "\",\n")) << r.out;
  EXPECT_TRUE(r.out.ends_with("\n    }\n]\n")) << r.out;
  EXPECT_EQ(cli("inspect -f '{{.Name}} {{.State.Status}} {{json .Config.Cmd}}' first").out,
            "/first created [\"sh\",\"-c\",\"echo from-start; exit 4\"]\n");
  EXPECT_EQ(cli("container inspect -f '{{.Id}}' " + id.substr(0, 12)).out, id + "\n");
  // Images too, through the same verb.
  r = cli(str_cat("inspect -f '{{.RepoTags}}' ", kImage));
  EXPECT_EQ(r.out, "[berth/busybox:latest]\n");
  r = cli("inspect nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "[]\n");
  EXPECT_EQ(r.err, "Error: No such object: nosuch\n");
  r = cli("container inspect nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such container: nosuch\n");

  // start -a streams and exits with the container's code.
  r = cli("start -a first");
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_EQ(r.out, "from-start\n");
  r = cli("wait first");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "4\n");
  r = cli("start first");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "first\n");
  EXPECT_EQ(cli("wait " + id).out, "4\n");
  r = cli("start nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "Error response from daemon: No such container: nosuch\n"
            "Error: failed to start containers: nosuch\n");

  r = cli("rename first second");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(cli("inspect -f '{{.Name}}' " + id).out, "/second\n");
  r = cli("rename first third");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "Error response from daemon: No such container: first\n"
            "Error: failed to rename container named first\n");
  r = cli("wait nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such container: nosuch\n");
}

TEST_F(CliContainersTest, CommitAndExport) {
  auto r = run("--name maker", "sh -c 'echo made > /made.txt'");
  ASSERT_EQ(r.status, 0) << r.err;

  r = cli("commit -m 'a message' -c 'CMD [\"cat\", \"/made.txt\"]' maker berth/made:v1");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_match(r.out, std::regex("sha256:[0-9a-f]{64}\n"))) << r.out;
  std::string image_id(trim(r.out));
  EXPECT_EQ(cli("image inspect -f '{{.Id}} {{.Comment}}' berth/made:v1").out,
            image_id + " a message\n");
  r = cli("run --rm --network none berth/made:v1");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "made\n");

  std::string archive = work_ / "maker.tar";
  r = cli("export -o " + archive + " maker");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  auto list = run_command("tar tf " + archive);
  EXPECT_NE(list.output.find("made.txt"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("bin/busybox"), std::string::npos) << list.output;
  r = sh("BERTH export maker | tar xOf - made.txt");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "made\n");
  // A failed export leaves no file.
  r = cli("export -o " + (work_ / "bad.tar") + " nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such container: nosuch\n");
  EXPECT_NE(::access((work_ / "bad.tar").c_str(), F_OK), 0);
}

TEST_F(CliContainersTest, TopKillAndPrune) {
  auto r = run("-d --name sleeper", "sleep 1000");
  ASSERT_EQ(r.status, 0) << r.err;
  r = cli("top sleeper");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("UID ") || r.out.starts_with("PID ")) << r.out;
  EXPECT_NE(r.out.find("sleep 1000"), std::string::npos) << r.out;

  r = cli("kill sleeper");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "sleeper\n");
  EXPECT_EQ(cli("wait sleeper").out, "137\n");
  ASSERT_EQ(run("", "true").status, 0);

  r = sh("echo n | BERTH container prune");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "WARNING! This will remove all stopped containers.\n"
            "Are you sure you want to continue? [y/N] ");
  EXPECT_EQ(cli("ps -aq").out.size(), 26u);
  r = cli("container prune -f");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_match(
      r.out, std::regex("Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n\nTotal reclaimed "
                        "space: [0-9.]+[kMG]?B\n")))
      << r.out;
  EXPECT_EQ(cli("ps -aq").out, "");
}

}  // namespace
}  // namespace berth
