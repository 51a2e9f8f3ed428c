// The berth CLI's image verbs against a berthd on a private root: import,
// images, image inspect, tag, rmi, history, prune, and save/load round trips
// through files and pipes; docker's output shapes, messages and exit codes.
// The image is the busybox rootfs of tools/make-busybox-image.sh; the tests
// skip when the host has no static busybox.
#include <sys/stat.h>
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

size_t count_lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

class CliImagesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("berth-cli-images");
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
  }
  void TearDown() override {
    if (daemon_.pid() > 0) {
      EXPECT_EQ(daemon_.stop(), 0) << daemon_.log();
    }
  }

  // Runs a shell command line in which "BERTH" stands for the berth binary
  // talking to the test daemon; stdout and stderr apart.
  CliRun sh(const std::string& line) {
    std::string berth = str_cat("env BERTH_HOST=", daemon_.host_url(), " timeout 120 ",
                                testing::build_dir(), "/berth");
    std::string cmd = line;
    // Replace from left to right, past each insertion (it holds BERTH_HOST).
    for (size_t pos = 0; (pos = cmd.find("BERTH", pos)) != std::string::npos; pos += berth.size())
      cmd.replace(pos, 5, berth);
    std::string err_path = work_ / "stderr";
    // run_command appends 2>&1 to the whole line: the group's own redirect
    // must be inside it.
    auto r = run_command(str_cat("{ { ", cmd, "; } 2>", err_path, "; }"));
    return CliRun{r.status, r.output, read_file(err_path)};
  }
  CliRun cli(const std::string& args) { return sh("BERTH " + args); }

  // Imports the busybox rootfs; returns the image ID.
  std::string import(const std::string& name) {
    auto r = cli(str_cat("import -c 'CMD [\"sh\"]' -m 'test import' ", tar_, " ", name));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(std::regex_match(r.out, std::regex("sha256:[0-9a-f]{64}\n"))) << r.out;
    return std::string(trim(r.out));
  }

  static TempDir* dir_;
  static std::string tar_;
  static std::string* skip_reason_;
  TempDir work_{"berth-cli-work"};
  Daemon daemon_;
};

TempDir* CliImagesTest::dir_ = nullptr;
std::string CliImagesTest::tar_;
std::string* CliImagesTest::skip_reason_ = nullptr;

TEST_F(CliImagesTest, ImportThenListAsDockerDoes) {
  std::string id = import("berth/busybox:latest");
  std::string short_id = id.substr(7, 12);

  auto r = cli("images");
  ASSERT_EQ(r.status, 0) << r.err;
  // docker's tabwriter: columns padded to the widest cell plus 3, at least
  // 10. CREATED is as wide as its cell ("Less than a second ago", or "1
  // second ago" on a slow day): SIZE starts where the row's size does.
  std::string header = r.out.substr(0, r.out.find('\n'));
  std::smatch row;
  ASSERT_TRUE(std::regex_search(
      r.out, row,
      std::regex("\nberth/busybox   latest    " + short_id +
                 "   (Less than a second ago|[0-9]+ seconds? ago)( +)[0-9.]+[kM]B\n")))
      << r.out;
  EXPECT_TRUE(std::regex_match(header, std::regex("REPOSITORY      TAG       IMAGE ID       "
                                                  "CREATED {3,}SIZE")))
      << r.out;
  EXPECT_EQ(header.find("SIZE"),
            static_cast<size_t>(row.position(2) + row.length(2)) - (header.size() + 1))
      << r.out;

  r = cli("images -q");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, short_id + "\n");
  r = cli("image ls --no-trunc -q");
  EXPECT_EQ(r.out, id + "\n");
  r = cli("images --format '{{.Repository}}:{{.Tag}} {{.ID}}'");
  EXPECT_EQ(r.out, "berth/busybox:latest " + short_id + "\n");
  r = cli("images --format 'table {{.ID}}\\t{{.Tag}}'");
  EXPECT_EQ(r.out, "IMAGE ID       TAG\n" + short_id + "   latest\n");
  r = cli("images --format json");
  EXPECT_TRUE(r.out.starts_with("{\"Containers\":\"N/A\",\"CreatedAt\":")) << r.out;
  EXPECT_NE(r.out.find("\"Digest\":\"\\u003cnone\\u003e\""), std::string::npos) << r.out;
  r = cli("images --digests");
  EXPECT_TRUE(r.out.starts_with("REPOSITORY      TAG       DIGEST    IMAGE ID")) << r.out;

  // Filters and the REPOSITORY argument.
  EXPECT_EQ(cli("images -q berth/busybox").out, short_id + "\n");
  EXPECT_EQ(cli("images -q other").out, "");
  EXPECT_EQ(cli("images -q -f dangling=true").out, "");
  EXPECT_EQ(cli("images -q --filter reference='berth/*'").out, short_id + "\n");
}

TEST_F(CliImagesTest, InspectPrettyPrintsAndFormats) {
  std::string id = import("berth/busybox:latest");
  auto r = cli("image inspect berth/busybox");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("[\n    {\n        \"Id\": \"" + id + "\",\n")) << r.out;
  EXPECT_NE(
      r.out.find("\n        \"RepoTags\": [\n            \"berth/busybox:latest\"\n        ],"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"RepoDigests\": [],"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"Cmd\": [\n                \"sh\"\n            ],"), std::string::npos)
      << r.out;
  EXPECT_TRUE(r.out.ends_with("\n    }\n]\n")) << r.out;
  // Valid JSON.
  auto j = sh(str_cat("BERTH image inspect berth/busybox ", id,
                      " | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'"));
  if (j.status == 0) {
    EXPECT_EQ(j.out, "2\n");
  }

  EXPECT_EQ(cli("image inspect -f '{{.Id}}' berth/busybox").out, id + "\n");
  EXPECT_EQ(cli("image inspect --format '{{json .Config.Cmd}}' berth/busybox").out, "[\"sh\"]\n");
  r = cli("image inspect -f '{{json .Config}}' berth/busybox");
  EXPECT_TRUE(r.out.starts_with("{\"")) << r.out;
  EXPECT_NE(r.out.find("\"Cmd\":[\"sh\"]"), std::string::npos) << r.out;
  EXPECT_EQ(cli("image inspect -f '{{.Comment}}|{{.Os}}|{{.RepoTags}}' berth/busybox").out,
            "test import|linux|[berth/busybox:latest]\n");

  // Found ones print, the missing one fails at the end.
  r = cli("image inspect -f '{{.Id}}' nosuch berth/busybox");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, id + "\n");
  EXPECT_EQ(r.err, "Error response from daemon: No such image: nosuch:latest\n");
  r = cli("image inspect nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "[]\n");
}

TEST_F(CliImagesTest, TagAndRemove) {
  std::string id = import("berth/busybox:latest");
  auto r = cli("tag berth/busybox other/name:v1");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = cli("image tag " + id.substr(7, 12) + " third");
  ASSERT_EQ(r.status, 0) << r.err;
  r = cli("images --format '{{.Repository}}:{{.Tag}}'");
  EXPECT_NE(r.out.find("other/name:v1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("third:latest\n"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 3u) << r.out;

  r = cli("tag nosuch x");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.err.starts_with("Error response from daemon: No such image: nosuch")) << r.err;
  r = cli("tag berth/busybox BAD:Name");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(
      r.err.starts_with("Error parsing reference: \"BAD:Name\" is not a valid "
                        "repository/tag: invalid reference format"))
      << r.err;

  r = cli("rmi other/name:v1");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Untagged: other/name:v1\n");
  // An ID with several names needs --force.
  r = cli("rmi " + id.substr(7, 12));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.err.starts_with("Error response from daemon: conflict")) << r.err;
  r = cli("image rm -f " + id.substr(7, 12));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Untagged: berth/busybox:latest\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Untagged: third:latest\n"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.ends_with("Deleted: " + id + "\n")) << r.out;
  EXPECT_EQ(cli("images -q").out, "");

  // Missing images: an error, except under --force (as docker).
  r = cli("rmi nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such image: nosuch:latest\n");
  r = cli("rmi -f nosuch");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.err, "Error response from daemon: No such image: nosuch:latest\n");
}

TEST_F(CliImagesTest, History) {
  std::string id = import("berth/busybox:latest");
  auto r = cli("history berth/busybox");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_match(
      r.out, std::regex("IMAGE          CREATED +CREATED BY   SIZE      COMMENT\n" +
                        id.substr(7, 12) + "   [A-Za-z0-9 ]+ ago +[0-9.]+[kM]B +test import\n")))
      << r.out;
  EXPECT_EQ(cli("history -q berth/busybox").out, id.substr(7, 12) + "\n");
  EXPECT_EQ(cli("image history -q --no-trunc berth/busybox").out, id + "\n");
  r = cli("history --human=false --format '{{.Size}} {{.Comment}}' berth/busybox");
  EXPECT_TRUE(std::regex_match(r.out, std::regex("[0-9]+ test import\n"))) << r.out;
  r = cli("history nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such image: nosuch:latest\n");
}

TEST_F(CliImagesTest, SaveAndLoadThroughFiles) {
  std::string id = import("berth/busybox:latest");
  std::string archive = work_ / "saved.tar";
  auto r = cli("save -o " + archive + " berth/busybox");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  auto list = run_command("tar tf " + archive);
  EXPECT_NE(list.output.find("manifest.json"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("index.json"), std::string::npos) << list.output;
  // No temporary left beside it.
  EXPECT_EQ(run_command("ls -A " + work_.path()).output, "saved.tar\nstderr\n");

  ASSERT_EQ(cli("rmi berth/busybox").status, 0);
  r = cli("load -i " + archive);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Loaded image: berth/busybox:latest\n");
  EXPECT_EQ(cli("image inspect -f '{{.Id}}' berth/busybox").out, id + "\n");
  r = cli("image load -q --input " + archive);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Loaded image: berth/busybox:latest\n");

  // A save that fails leaves no file behind.
  r = cli("save -o " + (work_ / "bad.tar") + " nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error response from daemon: No such image: nosuch:latest\n");
  EXPECT_NE(::access((work_ / "bad.tar").c_str(), F_OK), 0);
  r = cli("save -o /nonexistent-dir/x.tar berth/busybox");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "failed to save image: invalid output path: stat /nonexistent-dir: no such file or "
            "directory\n");
  r = cli("load -i /nonexistent.tar");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "open /nonexistent.tar: no such file or directory\n");
  r = cli("import /nonexistent.tar");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "open /nonexistent.tar: no such file or directory\n");
}

TEST_F(CliImagesTest, SaveAndLoadThroughPipes) {
  std::string id = import("berth/busybox:latest");
  ASSERT_EQ(cli("tag berth/busybox second:tag").status, 0);
  auto r = sh("BERTH save berth/busybox second:tag > " + (work_ / "two.tar"));
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(cli("rmi berth/busybox second:tag").status, 0);
  EXPECT_EQ(cli("images -q").out, "");

  r = sh("cat " + (work_ / "two.tar") + " | BERTH load");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Loaded image: berth/busybox:latest\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Loaded image: second:tag\n"), std::string::npos) << r.out;

  // save | load straight through.
  ASSERT_EQ(cli("rmi second:tag").status, 0);
  r = sh("BERTH save berth/busybox | BERTH load");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Loaded image: berth/busybox:latest\n");
  r = sh("BERTH load < " + (work_ / "two.tar"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(cli("image inspect -f '{{.Id}}' second:tag").out, id + "\n");

  // import from stdin.
  r = sh("cat " + tar_ + " | BERTH import - piped:in");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_match(r.out, std::regex("sha256:[0-9a-f]{64}\n"))) << r.out;
  EXPECT_EQ(cli("images -q piped").status, 0);

  // Garbage in: the daemon's message, exit 1.
  r = sh("echo 'not a tar' | BERTH load");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.err.starts_with("Error response from daemon: ")) << r.err;
}

TEST_F(CliImagesTest, PruneAsksUnlessForced) {
  std::string kept = import("berth/busybox:latest");
  auto dangling = cli(str_cat("import ", tar_));
  ASSERT_EQ(dangling.status, 0) << dangling.err;
  std::string dangling_id(trim(dangling.out));
  auto r = cli("images -a --format '{{.Repository}}:{{.Tag}}'");
  EXPECT_NE(r.out.find("<none>:<none>\n"), std::string::npos) << r.out;

  r = sh("echo n | BERTH image prune");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "WARNING! This will remove all dangling images.\n"
            "Are you sure you want to continue? [y/N] ");
  EXPECT_EQ(count_lines(cli("images -q").out), 2u);

  r = cli("image prune -f");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(
      r.out.starts_with("Deleted Images:\ndeleted: " + dangling_id + "\n\nTotal reclaimed space: "))
      << r.out;
  EXPECT_EQ(cli("images -q --no-trunc").out, kept + "\n");

  r = cli("image prune -f");
  EXPECT_EQ(r.out, "Total reclaimed space: 0B\n");
  r = sh("echo y | BERTH image prune -a");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("untagged: berth/busybox:latest\ndeleted: " + kept + "\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(cli("images -q").out, "");
}

TEST_F(CliImagesTest, UsageErrorsAsDocker) {
  auto r = cli("images --nosuch");
  EXPECT_EQ(r.status, 125);
  EXPECT_EQ(r.err,
            "unknown flag: --nosuch\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun "
            "'berth images --help' for more information\n");
  r = cli("image ls -x");
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(r.err.starts_with("unknown shorthand flag: 'x' in -x\n\nUsage:  berth image ls "))
      << r.err;
  r = cli("tag onlyone");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.err.starts_with("berth: 'berth tag' requires 2 arguments\n\nUsage:  berth tag "))
      << r.err;
  r = cli("rmi");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.err.starts_with("berth: 'berth rmi' requires at least 1 argument")) << r.err;
  r = cli("save -o");
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(r.err.starts_with("flag needs an argument: 'o' in -o")) << r.err;
  r = cli("images -f nonsense");
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(
      r.err.starts_with("invalid argument \"nonsense\" for \"-f, --filter\" flag: bad "
                        "format of filter (expected name=value)"))
      << r.err;
  r = cli("image nosuch");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.err.starts_with("berth: unknown command: berth image nosuch")) << r.err;
  r = cli("images --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.out.starts_with("Usage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nList images"))
      << r.out;
  r = cli("image");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("  prune "), std::string::npos) << r.out;
}

TEST_F(CliImagesTest, RefusesToSaveToATerminal) {
  if (::access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "no script(1) to make a terminal";
  import("berth/busybox:latest");
  auto r = sh("script -qec 'BERTH save berth/busybox' /dev/null");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
            std::string::npos)
      << r.out;
}

TEST_F(CliImagesTest, DaemonNotRunning) {
  std::string err_path = work_ / "stderr";
  auto c = run_command(str_cat("( env BERTH_HOST=unix://", work_.path(), "/none.sock ",
                               testing::build_dir(), "/berth images 2>", err_path, " )"));
  EXPECT_EQ(c.status, 1);
  EXPECT_EQ(c.output, "");
  EXPECT_TRUE(read_file(err_path).starts_with("Cannot connect to the berth daemon at unix://"))
      << read_file(err_path);
}

// A big archive streams through: the CLI's memory stays far below its size.
TEST_F(CliImagesTest, BigArchivesStreamWithSmallMemory) {
  if (::access("/usr/bin/time", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/time to measure";
  std::string tree = work_ / "big";
  std::string tar = work_ / "big.tar";
  ASSERT_EQ(run_command(str_cat("mkdir -p ", tree, " && head -c 200000000 /dev/urandom > ", tree,
                                "/blob && tar -C ", tree, " -cf ", tar, " . && rm -rf ", tree))
                .status,
            0);
  auto r = sh(str_cat("/usr/bin/time -f 'maxrss=%M' BERTH import ", tar, " big:1"));
  ASSERT_EQ(r.status, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("maxrss=([0-9]+)"))) << r.err;
  EXPECT_LT(std::stol(m[1]), 40 * 1024) << "KiB for a 200 MB import";

  r = sh(str_cat("/usr/bin/time -f 'maxrss=%M' BERTH save -o ", work_ / "big-saved.tar", " big:1"));
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("maxrss=([0-9]+)"))) << r.err;
  EXPECT_LT(std::stol(m[1]), 40 * 1024) << "KiB for a 200 MB save";
  struct stat st {};
  ASSERT_EQ(::stat((work_ / "big-saved.tar").c_str(), &st), 0);
  EXPECT_GT(st.st_size, 200000000);

  ASSERT_EQ(cli("rmi big:1").status, 0);
  r = sh(str_cat("/usr/bin/time -f 'maxrss=%M' BERTH load -i ", work_ / "big-saved.tar"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Loaded image: big:1\n");
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("maxrss=([0-9]+)"))) << r.err;
  EXPECT_LT(std::stol(m[1]), 40 * 1024) << "KiB for a 200 MB load";
}

}  // namespace
}  // namespace berth
