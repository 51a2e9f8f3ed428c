// The image endpoints through the real docker CLI (28) and raw HTTP:
// import with --change and -m, list with filters, inspect, history, tag,
// rmi (with the 404/409 rules and the layer and blob clean-up), prune,
// system df, save of several images and load back, refused loads, and
// persistence across a daemon restart. Images with fixed creation times and
// labels are made in memory as docker-archives and loaded. Skips without
// the docker CLI or curl; needs root (layers keep their owners).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "tests/layers/layer_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::api {
namespace {

using namespace berth::layers::testing;
namespace archive = berth::layers::archive;
using berth::testing::CommandResult;
using berth::testing::Daemon;
using berth::testing::run_command;
using berth::testing::TempDir;

const char* kDocker = "/usr/local/bin/docker";

std::string trimmed(std::string_view s) {
  return std::string(trim(s));
}

// Lines of s, sorted (docker's list order is by creation time, which ties).
std::vector<std::string> sorted_lines(const std::string& s) {
  std::vector<std::string> out;
  for (auto l : split(s, '\n'))
    if (!trim(l).empty()) out.emplace_back(trim(l));
  std::sort(out.begin(), out.end());
  return out;
}

class ImagesApi : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    if (::access(kDocker, X_OK) != 0) GTEST_SKIP() << "no docker CLI at " << kDocker;
    if (!have_tool("curl")) GTEST_SKIP() << "curl not installed";
    ASSERT_TRUE(daemon_.start());
    started_ = true;
  }
  void TearDown() override {
    // A clean exit is checked by ImagesApi.DaemonExitsAfterImageRequests.
    if (started_) daemon_.stop(std::chrono::seconds(5));
  }

  CommandResult docker(const std::string& args) {
    return run_command(str_cat("env -u DOCKER_CONTEXT DOCKER_HOST=", daemon_.host_url(),
                               " DOCKER_CONFIG=", t_.path(), "/dockercfg timeout 60 ", kDocker, " ",
                               args));
  }
  std::string ok(const std::string& args) {
    auto r = docker(args);
    EXPECT_EQ(r.status, 0) << "docker " << args << "\n" << r.output;
    return r.output;
  }
  HttpResult api(const std::string& method, const std::string& path,
                 const std::string& body_file = "") {
    return http(daemon_.socket_path(), method, path, body_file);
  }
  std::string file(const std::string& name, const std::string& data) {
    std::string p = t_ / name;
    EXPECT_TRUE(spit(p, data));
    return p;
  }
  void load(const std::vector<ImageSpec>& images) {
    static int n = 0;
    std::string f = file(str_cat("load", n++, ".tar"), make_docker_archive(images));
    ok("load -q -i " + shell_quote(f));
  }
  std::string images(const std::string& args = "") {
    return ok("images --format '{{.Repository}}:{{.Tag}}' " + args);
  }
  std::string inspect(const std::string& name, const std::string& fmt) {
    return trimmed(ok("image inspect --format '" + fmt + "' " + shell_quote(name)));
  }
  // A root filesystem tar for import.
  std::string rootfs_tar() {
    Members m;
    m.emplace_back(dir_entry("bin"), "");
    m.emplace_back(file_entry("bin/tool", 0755), pseudo_random(3000, 1));
    m.emplace_back(dir_entry("etc"), "");
    m.emplace_back(file_entry("etc/conf"), "conf\n");
    m.emplace_back(link_entry("etc/link", "conf"), "");
    return make_tar(m);
  }

  TempDir t_{"berth-images-api"};
  Daemon daemon_;
  bool started_ = false;
};

// Four images: a (labels team=red,tier=web), b (two tags, team=blue),
// lib/c, and an untagged one, created a month apart in that order.
std::vector<ImageSpec> four_images() {
  ImageSpec a = small_image("a:1", "a");
  a.created = "2024-01-01T00:00:00Z";
  a.labels = {{"team", "red"}, {"tier", "web"}};
  ImageSpec b = small_image("b:1", "bb");
  b.tags.push_back("b:2");
  b.created = "2024-02-01T00:00:00Z";
  b.labels = {{"team", "blue"}};
  ImageSpec c = small_image("lib/c:latest", "ccc");
  c.created = "2024-03-01T00:00:00Z";
  ImageSpec d = small_image("", "dddd");
  d.created = "2024-04-01T00:00:00Z";
  return {a, b, c, d};
}

TEST_F(ImagesApi, ImportWithChangesAndMessage) {
  std::string tar = rootfs_tar();
  std::string f = file("rootfs.tar", tar);
  auto r = docker(
      "import -m 'imported by the test' "
      "--change 'CMD [\"/bin/sh\", \"-c\", \"echo hi\"]' "
      "--change 'ENV A=1 B=two' --change 'EXPOSE 8080/tcp' "
      "--change 'LABEL k=v' --change 'WORKDIR /work' --change 'USER nobody' "
      "--change 'ENTRYPOINT [\"/entry\"]' " +
      shell_quote(f) + " imp:1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("sha256:[0-9a-f]{64}"))) << r.output;
  EXPECT_EQ(inspect("imp:1", "{{json .Config.Cmd}}"), R"(["/bin/sh","-c","echo hi"])");
  std::string env = inspect("imp:1", "{{json .Config.Env}}");
  EXPECT_NE(env.find("\"A=1\""), std::string::npos) << env;
  EXPECT_NE(env.find("\"B=two\""), std::string::npos) << env;
  EXPECT_EQ(inspect("imp:1", "{{json .Config.ExposedPorts}}"), R"({"8080/tcp":{}})");
  EXPECT_EQ(inspect("imp:1", "{{json .Config.Labels}}"), R"({"k":"v"})");
  EXPECT_EQ(inspect("imp:1", "{{.Config.WorkingDir}}"), "/work");
  EXPECT_EQ(inspect("imp:1", "{{.Config.User}}"), "nobody");
  EXPECT_EQ(inspect("imp:1", "{{json .Config.Entrypoint}}"), R"(["/entry"])");
  EXPECT_EQ(inspect("imp:1", "{{.Comment}}"), "imported by the test");
  // The layer is the tar as sent (diff ID) and holds the files.
  std::string diff = archive::sha256(tar).to_string();
  EXPECT_EQ(inspect("imp:1", "{{json .RootFS.Layers}}"), "[\"" + diff + "\"]");
  EXPECT_EQ(slurp(daemon_.root() + "/layers/" + diff.substr(7) + "/diff/etc/conf"), "conf\n");
  EXPECT_EQ(inspect("imp:1", "{{.Size}}"), std::to_string(3000 + 5));
  std::string created = inspect("imp:1", "{{.Created}}");
  EXPECT_TRUE(std::regex_match(created, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*Z)")))
      << created;
  EXPECT_EQ(inspect("imp:1", "{{.Os}}"), "linux");
  // History has the message.
  std::string hist = ok("history --no-trunc --format '{{.Comment}}|{{.Size}}' imp:1");
  EXPECT_NE(hist.find("imported by the test"), std::string::npos) << hist;
}

TEST_F(ImagesApi, ImportFromStdinGzipAndBadChange) {
  auto z = archive::compress(rootfs_tar(), archive::Compression::gzip);
  ASSERT_TRUE(z);
  std::string f = file("rootfs.tgz", *z);
  auto r = docker("import - stdin:1 < " + shell_quote(f));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(inspect("stdin:1", "{{json .RootFS.Layers}}"),
            "[\"" + archive::sha256(rootfs_tar()).to_string() + "\"]");
  // An instruction import cannot apply is refused before the upload.
  auto bad = docker("import --change 'FROM busybox' " + shell_quote(f) + " bad:1");
  EXPECT_NE(bad.status, 0) << bad.output;
  EXPECT_NE(bad.output.find("Error response from daemon"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("FROM"), std::string::npos) << bad.output;
  auto raw = api("POST", "/images/create?fromSrc=-&repo=bad&changes=FROM%20busybox", f);
  EXPECT_EQ(raw.status, 400) << raw.body;
  EXPECT_EQ(images(), "stdin:1\n");
}

// A failed import leaves no image, layer directory or blob.
TEST_F(ImagesApi, ImportRefusesBrokenArchives) {
  Members evil;
  evil.emplace_back(file_entry("ok"), "ok");
  evil.emplace_back(file_entry("../escape"), "x");
  std::string hostile = file("hostile.tar", make_tar(evil));
  auto r = api("POST", "/images/create?fromSrc=-&repo=evil&tag=1", hostile);
  EXPECT_GE(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("escape"), std::string::npos) << r.body;
  std::string garbage = file("garbage.bin", pseudo_random(3000, 9));
  auto g = api("POST", "/images/create?fromSrc=-&repo=garbage&tag=1", garbage);
  EXPECT_GE(g.status, 400) << g.body;
  auto empty = api("POST", "/images/create?fromSrc=-&repo=empty&tag=1", file("empty.tar", ""));
  EXPECT_GE(empty.status, 400) << empty.body;
  EXPECT_EQ(trimmed(images()), "");
  EXPECT_EQ(list_dir(daemon_.root() + "/layers"), std::vector<std::string>{});
  EXPECT_EQ(list_dir(daemon_.root() + "/content/ingest"), std::vector<std::string>{});
  EXPECT_EQ(blobs_of(daemon_.root()), std::vector<std::string>{}) << "blobs of failed imports kept";
}

TEST_F(ImagesApi, InspectFieldsOfALoadedImage) {
  auto imgs = four_images();
  load(imgs);
  const ImageSpec& b = imgs[1];
  EXPECT_EQ(inspect("b:1", "{{.Id}}"), image_id(b));
  EXPECT_EQ(inspect("b:1", "{{json .RepoTags}}"), R"(["b:1","b:2"])");
  EXPECT_EQ(inspect("b:1", "{{json .Config.Cmd}}"), R"(["/bin/sh"])");
  EXPECT_EQ(inspect("b:1", "{{json .RootFS.Layers}}"), "[\"" + b.layers[0].diff_id + "\"]");
  EXPECT_EQ(inspect("b:1", "{{.Size}}"), std::to_string(2 + 5000));
  EXPECT_EQ(inspect("b:1", "{{.Created}}"), "2024-02-01T00:00:00Z");
  EXPECT_EQ(inspect("b:1", "{{.Architecture}}"), "amd64");
  // By full ID, short ID and name@... all resolve to the same image.
  EXPECT_EQ(inspect(image_id(b), "{{.Id}}"), image_id(b));
  EXPECT_EQ(inspect(image_id(b).substr(7, 12), "{{.Id}}"), image_id(b));
  auto r = api("GET", "/images/nope/json");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("No such image: nope"), std::string::npos) << r.body;
}

TEST_F(ImagesApi, ListFilters) {
  load(four_images());
  EXPECT_EQ(sorted_lines(images()),
            (std::vector<std::string>{"<none>:<none>", "a:1", "b:1", "b:2", "lib/c:latest"}));
  EXPECT_EQ(sorted_lines(images("--filter dangling=true")),
            (std::vector<std::string>{"<none>:<none>"}));
  EXPECT_EQ(sorted_lines(images("--filter dangling=false")),
            (std::vector<std::string>{"a:1", "b:1", "b:2", "lib/c:latest"}));
  EXPECT_EQ(sorted_lines(images("--filter label=team")),
            (std::vector<std::string>{"a:1", "b:1", "b:2"}));
  EXPECT_EQ(sorted_lines(images("--filter label=team=red")), (std::vector<std::string>{"a:1"}));
  EXPECT_EQ(sorted_lines(images("--filter label=team --filter label=tier=web")),
            (std::vector<std::string>{"a:1"}));
  EXPECT_EQ(sorted_lines(images("--filter reference=b")), (std::vector<std::string>{"b:1", "b:2"}));
  EXPECT_EQ(sorted_lines(images("--filter reference=b:2")), (std::vector<std::string>{"b:2"}));
  EXPECT_EQ(sorted_lines(images("--filter 'reference=lib/*'")),
            (std::vector<std::string>{"lib/c:latest"}));
  EXPECT_EQ(sorted_lines(images("--filter 'reference=*:1'")),
            (std::vector<std::string>{"a:1", "b:1"}));
  EXPECT_EQ(sorted_lines(images("--filter before=lib/c")),
            (std::vector<std::string>{"a:1", "b:1", "b:2"}));
  EXPECT_EQ(sorted_lines(images("--filter since=b:1")),
            (std::vector<std::string>{"<none>:<none>", "lib/c:latest"}));
  EXPECT_EQ(sorted_lines(images("--filter since=a:1 --filter before=lib/c")),
            (std::vector<std::string>{"b:1", "b:2"}));
  // docker images REPO is the reference filter.
  EXPECT_EQ(sorted_lines(images("b")), (std::vector<std::string>{"b:1", "b:2"}));
  // Raw: the JSON and errors.
  auto r = api("GET", "/images/json?filters=%7B%22label%22%3A%7B%22team%3Dred%22%3Atrue%7D%7D");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"a:1\""), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("\"b:1\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"team\":\"red\""), std::string::npos) << r.body;
  auto bad = api("GET", "/images/json?filters=%7B%22color%22%3A%7B%22red%22%3Atrue%7D%7D");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("invalid filter"), std::string::npos) << bad.body;
  auto dangling =
      api("GET", "/images/json?filters=%7B%22dangling%22%3A%7B%22maybe%22%3Atrue%7D%7D");
  EXPECT_EQ(dangling.status, 400) << dangling.body;
  auto unknown = docker("images --filter before=nope");
  EXPECT_NE(unknown.status, 0) << unknown.output;
  EXPECT_NE(unknown.output.find("No such image"), std::string::npos) << unknown.output;
}

TEST_F(ImagesApi, History) {
  ImageSpec two = small_image("two:1", "x");
  two.layers.push_back(make_layer(make_tar({{file_entry("second"), "22"}})));
  load({two});
  std::string h =
      trimmed(ok("history --no-trunc --format '{{.ID}}|{{.CreatedBy}}|{{.Size}}' two:1"));
  auto lines = split(h, '\n');
  ASSERT_EQ(lines.size(), 2u) << h;
  // Newest first: the top row is the image, with the second layer's size.
  EXPECT_EQ(std::string(lines[0]), image_id(two) + "|test layer 1|2B") << h;
  EXPECT_EQ(std::string(lines[1]), "<missing>|test layer 0|5kB") << h;
  auto r = api("GET", "/images/two:1/history");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"Tags\":[\"two:1\"]"), std::string::npos) << r.body;
  EXPECT_EQ(api("GET", "/images/nope/history").status, 404);
}

TEST_F(ImagesApi, Tag) {
  load({small_image("src:1", "s")});
  ok("tag src:1 newrepo/x:v");
  ok("tag src:1 localhost:5000/y");
  EXPECT_EQ(sorted_lines(images()),
            (std::vector<std::string>{"localhost:5000/y:latest", "newrepo/x:v", "src:1"}));
  EXPECT_EQ(inspect("newrepo/x:v", "{{.Id}}"), inspect("src:1", "{{.Id}}"));
  // Moving a tag to another image.
  load({small_image("other:1", "o")});
  ok("tag other:1 newrepo/x:v");
  EXPECT_EQ(inspect("newrepo/x:v", "{{.Id}}"), inspect("other:1", "{{.Id}}"));
  // Invalid names, as the daemon says them.
  auto bad = api("POST", "/images/src:1/tag?repo=BadName&tag=x");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("invalid reference format"), std::string::npos) << bad.body;
  auto badtag = api("POST", "/images/src:1/tag?repo=ok&tag=-bad");
  EXPECT_EQ(badtag.status, 400) << badtag.body;
  auto norepo = api("POST", "/images/src:1/tag");
  EXPECT_EQ(norepo.status, 400) << norepo.body;
  // Unknown source.
  auto missing = api("POST", "/images/nope:1/tag?repo=x&tag=y");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_NE(missing.body.find("No such image: nope:1"), std::string::npos) << missing.body;
  auto cli = docker("tag nope:1 x:y");
  EXPECT_NE(cli.status, 0);
  EXPECT_NE(cli.output.find("No such image"), std::string::npos) << cli.output;
}

TEST_F(ImagesApi, RemoveRules) {
  auto imgs = four_images();
  load(imgs);
  const std::string root = daemon_.root();
  std::string b_id = image_id(imgs[1]);
  std::string b_layer = imgs[1].layers[0].diff_id.substr(7);
  std::string b_blob = imgs[1].layers[0].digest.substr(7);
  // By tag while another tag exists: untag only.
  std::string out = ok("rmi b:1");
  EXPECT_EQ(trimmed(out), "Untagged: b:1");
  EXPECT_EQ(inspect("b:2", "{{.Id}}"), b_id);
  // By ID with several tags: refused unless forced.
  ok("tag b:2 b:3");
  auto refused = docker("rmi " + b_id.substr(7, 12));
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.output.find("must be forced"), std::string::npos) << refused.output;
  auto raw = api("DELETE", "/images/" + b_id);
  EXPECT_EQ(raw.status, 409) << raw.body;
  EXPECT_TRUE(path_exists(root + "/layers/" + b_layer));
  out = ok("rmi -f " + b_id.substr(7, 12));
  EXPECT_NE(out.find("Untagged: b:2"), std::string::npos) << out;
  EXPECT_NE(out.find("Untagged: b:3"), std::string::npos) << out;
  EXPECT_NE(out.find("Deleted: " + b_id), std::string::npos) << out;
  EXPECT_FALSE(path_exists(root + "/layers/" + b_layer)) << "layer directory kept";
  EXPECT_FALSE(path_exists(root + "/content/blobs/sha256/" + b_blob)) << "layer blob kept";
  EXPECT_FALSE(path_exists(root + "/content/blobs/sha256/" + b_id.substr(7))) << "config blob kept";
  // The last tag deletes the image, its layer and blobs.
  std::string a_layer = imgs[0].layers[0].diff_id.substr(7);
  out = ok("rmi a:1");
  EXPECT_NE(out.find("Untagged: a:1"), std::string::npos) << out;
  EXPECT_NE(out.find("Deleted: " + image_id(imgs[0])), std::string::npos) << out;
  EXPECT_FALSE(path_exists(root + "/layers/" + a_layer));
  EXPECT_FALSE(path_exists(root + "/content/blobs/sha256/" + imgs[0].layers[0].digest.substr(7)));
  // Unknown.
  auto nope = api("DELETE", "/images/nope");
  EXPECT_EQ(nope.status, 404) << nope.body;
  EXPECT_NE(nope.body.find("No such image: nope"), std::string::npos) << nope.body;
  // Remaining: lib/c and the untagged one, and exactly their layers.
  EXPECT_EQ(sorted_lines(images()), (std::vector<std::string>{"<none>:<none>", "lib/c:latest"}));
  EXPECT_EQ(list_dir(root + "/layers").size(), 2u);
}

TEST_F(ImagesApi, SharedLayersStayWhileUsed) {
  ImageSpec one = small_image("one:1", "shared");
  ImageSpec two = one;
  two.tags = {"two:1"};
  two.labels = {{"differs", "yes"}};  // another config, the same layer
  load({one, two});
  std::string layer = one.layers[0].diff_id.substr(7);
  ok("rmi one:1");
  EXPECT_TRUE(path_exists(daemon_.root() + "/layers/" + layer)) << "layer still used by two:1";
  EXPECT_TRUE(
      path_exists(daemon_.root() + "/content/blobs/sha256/" + one.layers[0].digest.substr(7)));
  ok("rmi two:1");
  EXPECT_FALSE(path_exists(daemon_.root() + "/layers/" + layer));
}

TEST_F(ImagesApi, Prune) {
  load({small_image("x:1", "first")});
  std::string first = inspect("x:1", "{{.Id}}");
  load({small_image("x:1", "second")});  // takes the tag: the first dangles
  load({small_image("keep:1", "keep")});
  EXPECT_EQ(sorted_lines(ok("images --filter dangling=true -q --no-trunc")),
            (std::vector<std::string>{first}));
  std::string out = ok("image prune -f");
  EXPECT_NE(out.find("deleted: " + first), std::string::npos) << out;
  EXPECT_NE(out.find("Total reclaimed space"), std::string::npos) << out;
  EXPECT_EQ(sorted_lines(images()), (std::vector<std::string>{"keep:1", "x:1"}));
  EXPECT_EQ(list_dir(daemon_.root() + "/layers").size(), 2u);
  // Nothing dangling: nothing to do.
  auto none = api("POST", "/images/prune");
  EXPECT_EQ(none.status, 200);
  EXPECT_NE(none.body.find("\"ImagesDeleted\":null"), std::string::npos) << none.body;
  // -a: every image no container uses.
  auto all = api("POST", "/images/prune?filters=%7B%22dangling%22%3A%7B%22false%22%3Atrue%7D%7D");
  EXPECT_EQ(all.status, 200) << all.body;
  EXPECT_NE(all.body.find("\"Untagged\":\"keep:1\""), std::string::npos) << all.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(all.body, m, std::regex("\"SpaceReclaimed\":(\\d+)"))) << all.body;
  EXPECT_GT(std::stoll(m[1]), 0);
  EXPECT_EQ(trimmed(images()), "");
  EXPECT_EQ(list_dir(daemon_.root() + "/layers"), std::vector<std::string>{});
  EXPECT_EQ(blobs_of(daemon_.root()), std::vector<std::string>{});
  // CLI -a on an empty store.
  ok("image prune -a -f");
}

TEST_F(ImagesApi, PruneWithLabelFilter) {
  ImageSpec red = small_image("", "r");
  red.labels = {{"team", "red"}};
  ImageSpec blue = small_image("", "b");
  blue.labels = {{"team", "blue"}};
  load({red, blue});
  ok("image prune -f --filter label=team=red");
  auto left = sorted_lines(ok("images -q --no-trunc"));
  EXPECT_EQ(left, (std::vector<std::string>{image_id(blue)}));
}

TEST_F(ImagesApi, SystemDf) {
  auto imgs = four_images();
  load(imgs);
  auto r = docker("system df");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("Images\\s+4\\s"))) << r.output;
  auto raw = api("GET", "/system/df");
  EXPECT_EQ(raw.status, 200);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(raw.body, m, std::regex("\"LayersSize\":(\\d+)"))) << raw.body;
  // Four distinct layers: marker + 5000 bytes of data each.
  EXPECT_EQ(std::stoll(m[1]), 4 * 5000 + 1 + 2 + 3 + 4);
  auto verbose = docker("system df -v");
  EXPECT_EQ(verbose.status, 0) << verbose.output;
  EXPECT_NE(verbose.output.find("lib/c"), std::string::npos) << verbose.output;
}

TEST_F(ImagesApi, SaveSeveralAndLoadBack) {
  auto imgs = four_images();
  load(imgs);
  std::string saved = t_ / "saved.tar";
  ok("save -o " + shell_quote(saved) + " a:1 b:1 lib/c");
  ok("rmi -f " + image_id(imgs[0]) + " " + image_id(imgs[1]) + " " + image_id(imgs[2]));
  EXPECT_EQ(sorted_lines(images()), (std::vector<std::string>{"<none>:<none>"}));
  std::string out = ok("load -i " + shell_quote(saved));
  EXPECT_NE(out.find("Loaded image: a:1"), std::string::npos) << out;
  EXPECT_NE(out.find("Loaded image: b:1"), std::string::npos) << out;
  EXPECT_NE(out.find("Loaded image: lib/c:latest"), std::string::npos) << out;
  EXPECT_EQ(sorted_lines(images()),
            (std::vector<std::string>{"<none>:<none>", "a:1", "b:1", "lib/c:latest"}));
  EXPECT_EQ(inspect("a:1", "{{.Id}}"), image_id(imgs[0]));
  EXPECT_EQ(inspect("lib/c", "{{.Id}}"), image_id(imgs[2]));
  // Raw GET /images/get with several names, and from stdin.
  std::string raw = t_ / "raw.tar";
  auto r =
      run_command("curl -sS --fail --unix-socket " + shell_quote(daemon_.socket_path()) + " -o " +
                  shell_quote(raw) + " 'http://localhost/images/get?names=a:1&names=b:1'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(run_command("tar -tf " + shell_quote(raw) + " manifest.json index.json").status, 0);
  ok("rmi a:1 b:1");
  out = ok("load < " + shell_quote(raw));
  EXPECT_NE(out.find("Loaded image: a:1"), std::string::npos) << out;
  // Saving something unknown.
  auto missing = docker("save -o " + shell_quote(t_ / "x.tar") + " nope:1");
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("No such image"), std::string::npos) << missing.output;
}

TEST_F(ImagesApi, LoadRefusesWhatIsNotAnImage) {
  std::string not_image = file("plain.tar", make_tar({{file_entry("hello.txt"), "hello"}}));
  auto r = api("POST", "/images/load", not_image);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("not an image archive"), std::string::npos) << r.body;
  auto cli = docker("load -i " + shell_quote(not_image));
  EXPECT_NE(cli.status, 0);
  EXPECT_NE(cli.output.find("not an image archive"), std::string::npos) << cli.output;
  std::string garbage = file("garbage.bin", pseudo_random(10000, 5));
  auto g = api("POST", "/images/load", garbage);
  EXPECT_GE(g.status, 400) << g.body;
  EXPECT_NE(g.body.find("\"message\""), std::string::npos) << g.body;
  auto empty = api("POST", "/images/load", file("empty.tar", ""));
  EXPECT_GE(empty.status, 400) << empty.body;
  EXPECT_EQ(trimmed(images()), "");
  EXPECT_EQ(blobs_of(daemon_.root()), std::vector<std::string>{});
}

TEST_F(ImagesApi, EverythingSurvivesARestart) {
  auto imgs = four_images();
  load(imgs);
  ok("tag a:1 renamed/a:v2");
  ok("rmi b:2");
  std::string before =
      ok("images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}}'");
  std::string inspect_before = ok("image inspect a:1");
  ASSERT_EQ(daemon_.stop(std::chrono::seconds(10)), 0) << daemon_.log();
  ASSERT_TRUE(daemon_.start());
  std::string after = ok("images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}}'");
  EXPECT_EQ(sorted_lines(after), sorted_lines(before));
  EXPECT_EQ(ok("image inspect a:1"), inspect_before);
  for (const auto& i : imgs)
    EXPECT_TRUE(path_exists(daemon_.root() + "/layers/" + i.layers[0].diff_id.substr(7) +
                            "/diff/etc/marker"));
  // Still fully usable.
  std::string saved = t_ / "after.tar";
  ok("save -o " + shell_quote(saved) + " renamed/a:v2");
  ok("rmi -f " + image_id(imgs[0]));
  ok("load -i " + shell_quote(saved));
  EXPECT_EQ(inspect("renamed/a:v2", "{{.Id}}"), image_id(imgs[0]));
}

// Every image request leaves the daemon able to exit on SIGTERM. Names and
// filters longer than std::string's inline buffer matter: the handlers pass
// them to the blocking pool captured in a lambda.
TEST_F(ImagesApi, DaemonExitsAfterImageRequests) {
  load({small_image("exit:1", "e")});
  const std::string long_name = "a-name-longer-than-the-inline-buffer-of-std-string:1";
  EXPECT_EQ(api("GET", "/images/" + long_name + "/json").status, 404);
  EXPECT_EQ(api("GET", "/images/" + long_name + "/history").status, 404);
  EXPECT_EQ(api("POST", "/images/exit:1/tag?repo=example.com/some/long/repository&tag=v1").status,
            201);
  EXPECT_EQ(
      api("GET", "/images/json?filters=%7B%22label%22%3A%7B%22some-long-label-key%22%3Atrue%7D%7D")
          .status,
      200);
  EXPECT_EQ(api("DELETE", "/images/example.com/some/long/repository:v1").status, 200);
  EXPECT_EQ(api("POST",
                "/images/prune?filters=%7B%22label%22%3A%7B%22some-long-label-key%22%3Atrue%7D%7D")
                .status,
            200);
  started_ = false;
  EXPECT_EQ(daemon_.stop(std::chrono::seconds(10)), 0)
      << "berthd did not exit on SIGTERM after image requests\n"
      << daemon_.log();
}

}  // namespace
}  // namespace berth::api
