// berth import, load, save: image archives in and out of the daemon. Bodies
// stream through the client's upload()/download() in fixed buffers, so an
// archive of any size passes with little memory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/base/json/reader.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "layers/image/reference.h"
#include "tools/cli/cli.h"
#include "tools/cli/flags.h"
#include "tools/cli/format.h"
#include "tools/cli/query.h"

namespace berth::cli {

namespace {

// Prints a JSON message stream ({"stream": ...}, {"status": ...},
// {"error": ...}) as docker's jsonmessage does without a terminal. The
// first error message ends the output and is returned.
Result<void> print_json_messages(std::string_view body) {
  for (auto line : split(body, '\n')) {
    if (trim(line).empty()) continue;
    auto p = json::parse(line);
    if (!p) {
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
      continue;
    }
    std::string stream, status, id, progress, error;
    auto r =
        json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
          if (json::is_null(v)) return {};
          if (k == "stream") stream = BERTH_TRY(json::get_string(v, k));
          if (k == "status") status = BERTH_TRY(json::get_string(v, k));
          if (k == "id") id = BERTH_TRY(json::get_string(v, k));
          if (k == "progress") progress = BERTH_TRY(json::get_string(v, k));
          if (k == "error") error = BERTH_TRY(json::get_string(v, k));
          if (k == "errorDetail" && error.empty()) {
            BERTH_TRY(json::for_each_field(
                v, k, [&](std::string_view dk, json::od::value dv) -> Result<void> {
                  if (dk == "message") error = BERTH_TRY(json::get_string(dv, dk));
                  return {};
                }));
          }
          return {};
        });
    if (!r) return r;
    if (!error.empty()) {
      std::fflush(stdout);
      return fail(Errc::internal, error);
    }
    if (!stream.empty()) std::fputs(stream.c_str(), stdout);
    if (!status.empty()) {
      if (!id.empty()) std::printf("%s: ", id.c_str());
      std::printf("%s%s%s\n", status.c_str(), progress.empty() ? "" : " ", progress.c_str());
    }
  }
  std::fflush(stdout);
  return {};
}

// The answer of an upload: an API error, or its message stream printed.
int finish_upload(const Result<api::client::RawResponse>& r) {
  if (!r) return report(r.error());
  if (r->status < 200 || r->status >= 300) return report(api::client::error_from_response(*r));
  if (r->content_type.find("json") == std::string::npos) {
    std::fwrite(r->body.data(), 1, r->body.size(), stdout);
    return 0;
  }
  auto shown = print_json_messages(r->body);
  if (!shown) return report(shown.error());
  return 0;
}

Result<unique_fd> open_input(const std::string& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    return std::unexpected(Error{Errc::io, err, str_cat("open ", path, ": ", go_strerror(err))});
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode))
    return std::unexpected(
        Error{Errc::invalid_argument, EISDIR, str_cat("read ", path, ": is a directory")});
  return fd;
}

}  // namespace

// --- import --------------------------------------------------------------------------

io::Task<int> cmd_import(Cli& cli, Args args) {
  std::vector<std::string> changes;
  std::string message, platform;
  FlagSet fs(cli.path, "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
             "Import the contents from a tarball to create a filesystem image");
  fs.add_list('c', "change", &changes, "list", "Apply Dockerfile instruction to the created image")
      .add_string('m', "message", &message, "string", "Set commit message for imported image")
      .add_string(0, "platform", &platform, "string",
                  "Set platform if server is multi-platform capable");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  const std::string& source = fs.args()[0];
  std::string repo;
  if (fs.args().size() > 1) {
    repo = fs.args()[1];
    auto ref = layers::image::parse_reference(repo);
    if (!ref) co_return report(ref.error());
  }
  bool url = source.starts_with("http://") || source.starts_with("https://");
  Query q;
  q.add("fromSrc", url ? source : std::string("-"));
  if (!repo.empty()) q.add("repo", repo);
  if (!message.empty()) q.add("message", message);
  if (!platform.empty()) q.add("platform", platform);
  for (const auto& c : changes) q.add("changes", c);
  std::string target = str_cat(kApi, "/images/create", q.str());
  if (url) {
    auto r = co_await cli.client.request("POST", target);
    co_return finish_upload(r);
  }
  unique_fd file;
  int body_fd = 0;
  if (source != "-") {
    auto f = open_input(source);
    if (!f) co_return report(f.error());
    file = std::move(*f);
    body_fd = file.get();
  }
  io::http::Headers headers{{"Content-Type", "application/x-tar"}};
  auto r = co_await cli.client.upload("POST", target, body_fd, std::move(headers));
  co_return finish_upload(r);
}

// --- load ----------------------------------------------------------------------------

io::Task<int> cmd_load(Cli& cli, Args args) {
  std::string input, platform;
  bool quiet = false;
  FlagSet fs(cli.path, "[OPTIONS]", "Load an image from a tar archive or STDIN");
  fs.add_string('i', "input", &input, "string", "Read from tar archive file, instead of STDIN")
      .add_string(0, "platform", &platform, "string",
                  "Load only the given platform variant (not supported by berth yet)")
      .add_bool('q', "quiet", &quiet, "Suppress the load output");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(0)) co_return *rc;
  unique_fd file;
  int body_fd = 0;
  if (input.empty()) {
    if (cli.stdin_tty)
      co_return report(
          Error{Errc::invalid_argument, 0, "requested load from stdin, but stdin is empty"});
  } else {
    auto f = open_input(input);
    if (!f) co_return report(f.error());
    file = std::move(*f);
    body_fd = file.get();
  }
  Query q;
  // As docker: without a terminal there are no progress bars to show.
  if (quiet || !cli.stdout_tty) q.add("quiet", "1");
  if (!platform.empty()) q.add("platform", platform);
  std::string target = str_cat(kApi, "/images/load", q.str());
  io::http::Headers headers{{"Content-Type", "application/x-tar"}};
  auto r = co_await cli.client.upload("POST", target, body_fd, std::move(headers));
  co_return finish_upload(r);
}

// --- save ----------------------------------------------------------------------------

namespace {

// Where save writes: stdout, a device or fifo named by -o (written in place),
// or a regular file written as a temporary next to it and renamed on success,
// so a failed save leaves no partial archive behind.
class SaveOutput {
 public:
  static Result<SaveOutput> check(const std::string& path) {
    SaveOutput o;
    o.path_ = path;
    if (path.empty()) return o;
    std::string dir = path;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    size_t slash = dir.rfind('/');
    dir = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    o.dir_ = dir;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      int err = errno;
      return std::unexpected(Error{Errc::invalid_argument, err,
                                   str_cat("failed to save image: invalid output path: stat ", dir,
                                           ": ", go_strerror(err))});
    }
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode))
        return std::unexpected(
            Error{Errc::invalid_argument, EISDIR,
                  str_cat("failed to save image: open ", path, ": is a directory")});
      o.in_place_ = !S_ISREG(st.st_mode);
    }
    return o;
  }

  // Called once the daemon answered well.
  Result<int> open() {
    if (path_.empty()) return 1;
    if (in_place_) {
      fd_.reset(::open(path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    } else {
      temp_ = dir_ + "/.berth_temp_XXXXXX";
      fd_.reset(::mkostemp(temp_.data(), O_CLOEXEC));
    }
    if (!fd_) {
      int err = errno;
      temp_.clear();
      return std::unexpected(Error{
          Errc::io, err, str_cat("failed to save image: open ", path_, ": ", go_strerror(err))});
    }
    return fd_.get();
  }

  Result<void> commit() {
    if (temp_.empty()) return {};
    if (::fsync(fd_.get()) != 0 || ::rename(temp_.c_str(), path_.c_str()) != 0) {
      int err = errno;
      return std::unexpected(Error{
          Errc::io, err, str_cat("failed to save image: rename ", path_, ": ", go_strerror(err))});
    }
    temp_.clear();
    return {};
  }

  ~SaveOutput() {
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }
  SaveOutput() = default;
  SaveOutput(SaveOutput&&) = default;

 private:
  std::string path_, dir_, temp_;
  bool in_place_ = false;
  unique_fd fd_;
};

}  // namespace

io::Task<int> cmd_save(Cli& cli, Args args) {
  std::string output, platform;
  FlagSet fs(cli.path, "[OPTIONS] IMAGE [IMAGE...]",
             "Save one or more images to a tar archive (streamed to STDOUT by default)");
  fs.add_string('o', "output", &output, "string", "Write to a file, instead of STDOUT")
      .add_string(0, "platform", &platform, "string",
                  "Save only the given platform variant (not supported by berth yet)");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  if (output.empty() && cli.stdout_tty)
    co_return report(Error{Errc::invalid_argument, 0,
                           "cowardly refusing to save to a terminal. Use the -o flag or redirect"});
  auto out = SaveOutput::check(output);
  if (!out) co_return report(out.error());
  Query q;
  for (const auto& name : fs.args()) q.add("names", name);
  if (!platform.empty()) q.add("platform", platform);
  std::string target = str_cat(kApi, "/images/get", q.str());
  SaveOutput* o = &*out;
  std::fflush(stdout);
  auto call = [o] { return o->open(); };
  auto r = co_await cli.client.download("GET", target, std::move(call));
  if (!r) co_return report(r.error());
  auto c = out->commit();
  if (!c) co_return report(c.error());
  co_return 0;
}

}  // namespace berth::cli
