// berth logs, inspect (any object) / container inspect, top, commit and
// export: the container verbs that read something out of a container.
// Output as the docker CLI's; logs and export stream.
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
#include "tools/cli/containers.h"
#include "tools/cli/flags.h"
#include "tools/cli/format.h"
#include "tools/cli/query.h"
#include "tools/cli/streams.h"
#include "tools/cli/template.h"

namespace berth::cli {

namespace {

// Go's time.ParseDuration: "1h30m", "10s", "1.5m", "300ms".
std::optional<double> go_duration_seconds(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  double total = 0;
  bool any = false;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    std::string num(s.substr(0, i));
    char* end = nullptr;
    double v = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return std::nullopt;
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !std::isdigit(static_cast<unsigned char>(s[j])) && s[j] != '.') ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    double mult;
    if (unit == "ns")
      mult = 1e-9;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs")
      mult = 1e-6;
    else if (unit == "ms")
      mult = 1e-3;
    else if (unit == "s")
      mult = 1;
    else if (unit == "m")
      mult = 60;
    else if (unit == "h")
      mult = 3600;
    else
      return std::nullopt;
    total += v * mult;
    any = true;
  }
  if (!any) return std::nullopt;
  return neg ? -total : total;
}

// docker's timetypes.GetTimestamp: a duration counts back from now; dates
// and Unix times go to the daemon as they are.
std::string log_timestamp(const std::string& value) {
  if (value != "0") {
    if (auto d = go_duration_seconds(value)) {
      double t = now_seconds() - *d;
      return std::to_string(static_cast<int64_t>(t));
    }
  }
  return value;
}

}  // namespace

// --- logs ------------------------------------------------------------------------------

io::Task<int> cmd_logs(Cli& cli, Args args) {
  bool follow = false, timestamps = false, details = false;
  std::string since, until, tail = "all";
  FlagSet fs(cli.path, "[OPTIONS] CONTAINER", "Fetch the logs of a container");
  fs.add_bool(0, "details", &details, "Show extra details provided to logs")
      .add_bool('f', "follow", &follow, "Follow log output")
      .add_string(0, "since", &since, "string",
                  "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. "
                  "\"42m\" for 42 minutes)")
      .add_string('n', "tail", &tail, "string", "Number of lines to show from the end of the logs")
      .add_bool('t', "timestamps", &timestamps, "Show timestamps")
      .add_string(0, "until", &until, "string",
                  "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative "
                  "(e.g. \"42m\" for 42 minutes)");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(1)) co_return *rc;
  auto facts = co_await inspect_facts(cli, fs.args()[0]);
  if (!facts) co_return report(facts.error());
  Query q;
  q.add("stdout", "1").add("stderr", "1");
  if (!since.empty()) q.add("since", log_timestamp(since));
  if (!until.empty()) q.add("until", log_timestamp(until));
  if (timestamps) q.add("timestamps", "1");
  if (follow) q.add("follow", "1");
  q.add("tail", tail);
  if (details) q.add("details", "1");
  std::string target = str_cat(kApi, "/containers/", facts->id, "/logs", q.str());
  auto conn = co_await cli.client.open_stream("GET", target);
  if (!conn) co_return report(conn.error());
  std::fflush(stdout);
  OutputSink sink;
  sink.tty = facts->tty;
  for (;;) {
    auto chunk = co_await (*conn)->read_body();
    if (!chunk) co_return report(chunk.error());
    if (chunk->empty()) break;
    auto w = co_await sink.write(*chunk);
    if (!w) co_return report(w.error());
  }
  co_return 0;
}

// --- inspect ---------------------------------------------------------------------------

namespace {

// Prints the documents as docker's inspect does (an indented JSON array, or
// each through the template), then the errors; returns the exit code.
int print_inspected(const std::vector<std::string>& docs, const std::vector<std::string>& errors,
                    const std::optional<Template>& tmpl) {
  if (tmpl) {
    for (const auto& d : docs) {
      auto line = tmpl->render(json_resolver(d));
      if (!line) return report(line.error());
      std::printf("%s\n", line->c_str());
    }
  } else {
    std::string all = "[" + join(docs, ",") + "]";
    std::printf("%s\n", indent_json(all, "    ").c_str());
  }
  std::fflush(stdout);
  if (errors.empty()) return 0;
  std::fprintf(stderr, "%s\n", join(errors, "\n").c_str());
  return 1;
}

io::Task<int> inspect_objects(Cli& cli, Args args, bool containers_only) {
  std::string format, type;
  bool size = false;
  FlagSet fs(
      cli.path,
      containers_only ? "[OPTIONS] CONTAINER [CONTAINER...]" : "[OPTIONS] NAME|ID [NAME|ID...]",
      containers_only ? "Display detailed information on one or more containers"
                      : "Return low-level information on Docker objects");
  fs.add_string('f', "format", &format, "string",
                "Format output using a custom template:\n'json':             Print in JSON "
                "format\n'TEMPLATE':         Print output using the given Go template")
      .add_bool('s', "size", &size,
                containers_only ? "Display total file sizes"
                                : "Display total file sizes if the type is container");
  if (!containers_only)
    fs.add_string(0, "type", &type, "string", "Only inspect objects of the given type");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  if (containers_only) type = "container";
  if (!type.empty() && type != "container" && type != "image") {
    std::fprintf(stderr, "\"%s\" is not a valid value for --type\n", type.c_str());
    co_return 1;
  }
  if (format == "json") format.clear();
  std::optional<Template> tmpl;
  if (!format.empty()) {
    auto t = Template::parse(format, false);
    if (!t) co_return report(t.error());
    tmpl = std::move(*t);
  }
  std::vector<std::string> docs, errors;
  for (const auto& name : fs.args()) {
    std::optional<std::string> doc;
    std::optional<Error> error;
    if (type.empty() || type == "container") {
      Query q;
      if (size) q.add("size", "1");
      std::string target = str_cat(kApi, "/containers/", path_escape(name), "/json", q.str());
      auto r = co_await cli.client.call("GET", target);
      if (r)
        doc = std::string(trim(r->body));
      else
        error = r.error();
    }
    if (!doc && (type.empty() || type == "image") && (!error || error->code == Errc::not_found)) {
      std::string target = str_cat(kApi, "/images/", path_escape(name), "/json");
      auto r = co_await cli.client.call("GET", target);
      if (r) {
        doc = std::string(trim(r->body));
        error.reset();
      } else if (!error || r.error().code != Errc::not_found) {
        error = r.error();
      }
    }
    if (doc) {
      docs.push_back(std::move(*doc));
      continue;
    }
    // A daemon that cannot be reached fails every name the same way.
    if (!error->message.starts_with("Error response from daemon")) co_return report(*error);
    // Of any type: docker's own message once nothing has the name.
    if (error->code == Errc::not_found && type.empty())
      errors.push_back("Error: No such object: " + name);
    else
      errors.push_back(error->message);
  }
  co_return print_inspected(docs, errors, tmpl);
}

}  // namespace

io::Task<int> cmd_inspect(Cli& cli, Args args) {
  co_return co_await inspect_objects(cli, std::move(args), false);
}

io::Task<int> cmd_container_inspect(Cli& cli, Args args) {
  co_return co_await inspect_objects(cli, std::move(args), true);
}

// --- top -------------------------------------------------------------------------------

io::Task<int> cmd_top(Cli& cli, Args args) {
  SplitFlags flags(cli.path, "CONTAINER [ps OPTIONS]",
                   "Display the running processes of a container");
  if (auto rc = flags.parse(args)) co_return *rc;
  if (auto rc = flags.fs().min_args(1)) co_return *rc;
  const auto& a = flags.fs().args();
  Query q;
  if (a.size() > 1) q.add("ps_args", join(std::vector<std::string>(a.begin() + 1, a.end()), " "));
  auto r = co_await cli.client.call(
      "GET", str_cat(kApi, "/containers/", path_escape(a[0]), "/top", q.str()));
  if (!r) co_return report(r.error());
  auto p = json::parse(r->body);
  if (!p) co_return report(p.error());
  std::vector<std::vector<std::string>> rows;
  auto res =
      json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (json::is_null(v)) return {};
        if (k == "Titles") rows.insert(rows.begin(), BERTH_TRY(json::get_string_array(v, k)));
        if (k == "Processes") {
          json::od::array arr;
          if (v.get_array().get(arr) != simdjson::SUCCESS)
            return std::unexpected(json::bad_field(k, "expected an array"));
          for (auto el : arr) {
            json::od::value row;
            if (el.get(row) != simdjson::SUCCESS) break;
            rows.push_back(BERTH_TRY(json::get_string_array(row, k)));
          }
        }
        return {};
      });
  if (!res) co_return report(res.error());
  // docker's tabwriter here: minimum width 20, padding 3, the last cell bare.
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i + 1 < row.size(); ++i)
      widths[i] = std::max({widths[i], row[i].size() + 3, size_t{20}});
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size(), ' ');
    }
    std::printf("%s\n", line.c_str());
  }
  co_return 0;
}

// --- commit ----------------------------------------------------------------------------

io::Task<int> cmd_commit(Cli& cli, Args args) {
  std::string author, message;
  std::vector<std::string> changes;
  bool pause = true;
  FlagSet fs(cli.path, "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
             "Create a new image from a container's changes");
  fs.add_string('a', "author", &author, "string",
                "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")")
      .add_list('c', "change", &changes, "list",
                "Apply Dockerfile instruction to the created image")
      .add_string('m', "message", &message, "string", "Commit message")
      .add_bool('p', "pause", &pause, "Pause container during commit");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  if (auto rc = fs.max_args(2)) co_return *rc;
  Query q;
  q.add("container", fs.args()[0]);
  if (fs.args().size() > 1) {
    auto ref = layers::image::parse_reference(fs.args()[1], false);
    if (!ref) co_return report(ref.error());
    if (ref->has_digest())
      co_return report(
          Error{Errc::invalid_argument, 0, "refusing to create a tag with a digest reference"});
    q.add("repo", ref->familiar_repository());
    if (ref->has_tag()) q.add("tag", ref->tag);
  }
  if (!message.empty()) q.add("comment", message);
  if (!author.empty()) q.add("author", author);
  for (const auto& c : changes) q.add("changes", c);
  q.add("pause", pause ? "1" : "0");
  auto r = co_await cli.client.call("POST", str_cat(kApi, "/commit", q.str()));
  if (!r) co_return report(r.error());
  auto p = json::parse(r->body);
  if (!p) co_return report(p.error());
  std::string id;
  auto res =
      json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (k == "Id" && !json::is_null(v)) id = BERTH_TRY(json::get_string(v, k));
        return {};
      });
  if (!res) co_return report(res.error());
  std::printf("%s\n", id.c_str());
  co_return 0;
}

// --- export ----------------------------------------------------------------------------

namespace {

// -o FILE: written as a temporary beside it and renamed once complete, so a
// failed export leaves nothing behind (docker's CopyToFile).
struct ExportFile {
  std::string path, temp;
  unique_fd fd;
  ~ExportFile() {
    if (!temp.empty()) ::unlink(temp.c_str());
  }
  Result<int> open() {
    if (path.empty()) return 1;
    std::string dir = path;
    size_t slash = dir.rfind('/');
    dir = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    temp = dir + "/.berth_temp_XXXXXX";
    fd.reset(::mkostemp(temp.data(), O_CLOEXEC));
    if (!fd) {
      int err = errno;
      temp.clear();
      return std::unexpected(
          Error{Errc::io, err,
                str_cat("failed to export container: open ", path, ": ", go_strerror(err))});
    }
    return fd.get();
  }
  Result<void> commit() {
    if (temp.empty()) return {};
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      int err = errno;
      return std::unexpected(
          Error{Errc::io, err,
                str_cat("failed to export container: rename ", path, ": ", go_strerror(err))});
    }
    temp.clear();
    return {};
  }
};

}  // namespace

io::Task<int> cmd_export(Cli& cli, Args args) {
  std::string output;
  FlagSet fs(cli.path, "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive");
  fs.add_string('o', "output", &output, "string", "Write to a file, instead of STDOUT");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(1)) co_return *rc;
  if (output.empty() && cli.stdout_tty)
    co_return report(Error{Errc::invalid_argument, 0,
                           "cowardly refusing to save to a terminal. Use the -o flag or redirect"});
  auto file = std::make_unique<ExportFile>();
  file->path = output;
  ExportFile* f = file.get();
  std::fflush(stdout);
  std::string target = str_cat(kApi, "/containers/", path_escape(fs.args()[0]), "/export");
  auto open = [f] { return f->open(); };
  auto r = co_await cli.client.download("GET", target, std::move(open));
  if (!r) co_return report(r.error());
  auto c = file->commit();
  if (!c) co_return report(c.error());
  co_return 0;
}

}  // namespace berth::cli
