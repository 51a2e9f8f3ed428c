// Registry client pieces that need no registry: challenge parsing, token
// URLs and answers, registry error bodies, URLs, which registries are
// insecure, and the API's progress lines and X-Registry-Auth decoding.
#include <gtest/gtest.h>

#include "api/server/registry.h"
#include "core/base/strings.h"
#include "layers/registry/auth.h"
#include "layers/registry/client.h"

namespace berth::layers::registry {
namespace {

TEST(RegistryAuth, ParsesBearerChallenge) {
  auto cs = parse_challenges(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "bearer");
  EXPECT_EQ(cs[0].param("realm"), "https://auth.example.com/token");
  EXPECT_EQ(cs[0].param("service"), "registry.example.com");
  EXPECT_EQ(cs[0].param("scope"), "repository:a/b:pull,push");
}

TEST(RegistryAuth, ParsesSeveralChallengesAndBareValues) {
  auto cs = parse_challenges(R"(Basic realm="Registry Realm", Bearer realm=https://x/t,service=y)");
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].scheme, "basic");
  EXPECT_EQ(cs[0].param("realm"), "Registry Realm");
  EXPECT_EQ(cs[1].scheme, "bearer");
  EXPECT_EQ(cs[1].param("realm"), "https://x/t");
  EXPECT_EQ(cs[1].param("service"), "y");
  EXPECT_TRUE(parse_challenges("").empty());
}

TEST(RegistryAuth, TokenUrlEncodesScopesAndAccount) {
  auto cs = parse_challenges(R"(Bearer realm="https://a/token",service="reg 1")");
  Credentials c{.username = "me@x", .password = "p"};
  auto url = token_url(cs[0], {"repository:lib/bb:pull"}, c);
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(*url,
            "https://a/token?service=reg%201&scope=repository%3Alib%2Fbb%3Apull&account=me%40x");
  auto none = parse_challenges("Bearer service=x");
  EXPECT_FALSE(token_url(none[0], {}, {}));
}

TEST(RegistryAuth, TokenAnswers) {
  EXPECT_EQ(parse_token_response(R"({"token":"abc","expires_in":60})").value(), "abc");
  EXPECT_EQ(parse_token_response(R"({"access_token":"xyz"})").value(), "xyz");
  EXPECT_FALSE(parse_token_response("{}"));
  EXPECT_FALSE(parse_token_response("not json"));
}

TEST(RegistryAuth, BasicAuthorization) {
  EXPECT_EQ(basic_authorization({.username = "user", .password = "pass"}), "Basic dXNlcjpwYXNz");
}

TEST(RegistryAuth, ErrorBodies) {
  EXPECT_EQ(
      registry_error_message(
          R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]})"),
      "manifest unknown: manifest unknown");
  EXPECT_EQ(registry_error_message(R"({"errors":[]})"), "");
  EXPECT_EQ(registry_error_message("<html>"), "");
}

TEST(RegistryClient, ParsesUrls) {
  auto u = parse_url("https://s3.example.com/bucket/x?sig=1");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->host, "s3.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/bucket/x?sig=1");
  auto v = parse_url("http://[::1]:5000");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "::1");
  EXPECT_EQ(v->port, 5000);
  EXPECT_EQ(v->target, "/");
  EXPECT_EQ(v->origin(), "http://[::1]:5000");
  EXPECT_FALSE(parse_url("ftp://x/"));
  EXPECT_FALSE(parse_url("https:///x"));
}

TEST(RegistryClient, InsecureRegistries) {
  Registries def(RegistryOptions{});
  EXPECT_TRUE(def.insecure("127.0.0.1:5000"));
  EXPECT_TRUE(def.insecure("localhost:5000"));
  EXPECT_TRUE(def.insecure("127.3.4.5"));
  EXPECT_FALSE(def.insecure("docker.io"));
  EXPECT_FALSE(def.insecure("10.1.2.3:5000"));
  RegistryOptions o;
  o.insecure = {"10.0.0.0/8", "reg.local:5000"};
  o.strict_loopback = true;
  Registries r(o);
  EXPECT_FALSE(r.insecure("127.0.0.1:5000"));
  EXPECT_TRUE(r.insecure("10.1.2.3:5000"));
  EXPECT_TRUE(r.insecure("reg.local:5000"));
  EXPECT_FALSE(r.insecure("reg.local:6000"));
  auto h = def.host("docker.io");
  EXPECT_EQ(h.host, "registry-1.docker.io");
  EXPECT_EQ(h.port, 443);
  auto l = def.host("localhost:5000");
  EXPECT_EQ(l.host, "localhost");
  EXPECT_EQ(l.port, 5000);
  EXPECT_TRUE(l.insecure);
}

TEST(RegistryApi, ProgressLines) {
  ProgressEvent e;
  e.id = "abc";
  e.status = "Downloading";
  e.current = 500;
  e.total = 1000;
  std::string line = api::progress_line(e);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_NE(line.find(R"("status":"Downloading")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("progressDetail":{"current":500,"total":1000})"), std::string::npos);
  EXPECT_NE(
      line.find(R"("progress":"[=========================>                        ] 500B/1kB")"),
      std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("id":"abc")"), std::string::npos);
  ProgressEvent aux;
  aux.aux_tag = "1.0";
  aux.aux_digest = "sha256:00";
  aux.aux_size = 42;
  EXPECT_EQ(
      api::progress_line(aux),
      "{\"progressDetail\":{},\"aux\":{\"Tag\":\"1.0\",\"Digest\":\"sha256:00\",\"Size\":42}}\n");
  EXPECT_EQ(api::error_line("boom"),
            "{\"errorDetail\":{\"message\":\"boom\"},\"error\":\"boom\"}\n");
}

TEST(RegistryApi, RegistryAuthHeader) {
  auto none = api::credentials_from_header(std::nullopt);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto empty = api::credentials_from_header("e30=");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  std::string json = R"({"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"})";
  auto c = api::credentials_from_header(base64_encode(json, true));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->username, "u");
  EXPECT_EQ(c->password, "p?>");
  EXPECT_FALSE(api::credentials_from_header("!!!"));
  EXPECT_FALSE(api::credentials_from_header(base64_encode("[1,2]")));
  EXPECT_EQ(api::registry_of_server_address("https://index.docker.io/v1/"), "docker.io");
  EXPECT_EQ(api::registry_of_server_address("http://127.0.0.1:5000/"), "127.0.0.1:5000");
  EXPECT_EQ(api::registry_of_server_address("localhost:5000"), "localhost:5000");
}

TEST(Base64, RoundTrips) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00z"}) {
    auto std_enc = base64_encode(s);
    auto url_enc = base64_encode(s, true);
    EXPECT_EQ(base64_decode(std_enc).value(), s);
    EXPECT_EQ(base64_decode(url_enc).value(), s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("\xfb\xff", true), "-_8=");
  EXPECT_FALSE(base64_decode("a"));
  EXPECT_FALSE(base64_decode("ab c"));
}

}  // namespace
}  // namespace berth::layers::registry
