// berth images / image ls, image inspect, history, tag, rmi / image rm,
// image prune, and the `berth image` group. Output as the docker CLI's.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/base/json/reader.h"
#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "layers/image/reference.h"
#include "tools/cli/cli.h"
#include "tools/cli/flags.h"
#include "tools/cli/format.h"
#include "tools/cli/query.h"
#include "tools/cli/rows.h"
#include "tools/cli/template.h"

namespace berth::cli {

namespace {

// --- JSON readers for list answers -----------------------------------------------

struct ImageSummary {
  std::string id;
  std::vector<std::string> repo_tags, repo_digests;
  int64_t created = 0, size = 0, shared_size = -1, containers = -1;
};

Result<std::vector<ImageSummary>> parse_image_list(const std::string& body) {
  auto p = BERTH_TRY(json::parse(body));
  json::od::array arr;
  if (p->doc.get_array().get(arr) != simdjson::SUCCESS)
    return fail(Errc::corrupt, "invalid answer from the daemon: expected an array of images");
  std::vector<ImageSummary> out;
  for (auto el : arr) {
    json::od::value v;
    if (el.get(v) != simdjson::SUCCESS) return fail(Errc::corrupt, "invalid image list");
    ImageSummary s;
    BERTH_TRY(json::for_each_field(v, "image",
                                   [&](std::string_view k, json::od::value f) -> Result<void> {
                                     if (json::is_null(f)) return {};
                                     if (k == "Id") s.id = BERTH_TRY(json::get_string(f, k));
                                     if (k == "RepoTags")
                                       s.repo_tags = BERTH_TRY(json::get_string_array(f, k));
                                     if (k == "RepoDigests")
                                       s.repo_digests = BERTH_TRY(json::get_string_array(f, k));
                                     if (k == "Created") s.created = BERTH_TRY(json::get_int(f, k));
                                     if (k == "Size") s.size = BERTH_TRY(json::get_int(f, k));
                                     if (k == "SharedSize")
                                       s.shared_size = BERTH_TRY(json::get_int(f, k));
                                     if (k == "Containers")
                                       s.containers = BERTH_TRY(json::get_int(f, k));
                                     return {};
                                   }));
    out.push_back(std::move(s));
  }
  return out;
}

// "repo:tag" -> ("repo", "tag"); the colon must follow the last slash.
std::pair<std::string, std::string> split_tag(const std::string& ref) {
  size_t colon = ref.rfind(':');
  size_t slash = ref.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash))
    return {ref, "<none>"};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

// One row per repository:tag (per digest too with --digests), as docker's
// image formatter builds them; a dangling image is one <none> row.
std::vector<Row> image_rows(const ImageSummary& img, bool digests, bool no_trunc, double now) {
  Row base;
  base["ID"] = no_trunc ? img.id : short_id(img.id);
  base["CreatedSince"] = time_ago(img.created, now);
  base["CreatedAt"] = go_time_string(img.created);
  base["Size"] = human_size(static_cast<double>(img.size), 3);
  base["VirtualSize"] = human_size(static_cast<double>(img.size), 4);
  base["Containers"] = img.containers < 0 ? "N/A" : std::to_string(img.containers);
  base["SharedSize"] =
      img.shared_size < 0 ? "N/A" : human_size(static_cast<double>(img.shared_size), 3);
  base["UniqueSize"] =
      img.shared_size < 0 ? "N/A" : human_size(static_cast<double>(img.size - img.shared_size), 3);
  auto row = [&](std::string repo, std::string tag, std::string digest) {
    Row r = base;
    r["Repository"] = std::move(repo);
    r["Tag"] = std::move(tag);
    r["Digest"] = std::move(digest);
    return r;
  };
  std::vector<Row> out;
  if (img.repo_tags.empty() && img.repo_digests.empty()) {
    out.push_back(row("<none>", "<none>", "<none>"));
    return out;
  }
  // Repositories in order of first appearance (docker's order is a Go map's).
  std::vector<std::string> repos;
  std::map<std::string, std::vector<std::string>> tags, dgsts;
  for (const auto& t : img.repo_tags) {
    auto [repo, tag] = split_tag(t);
    if (!tags.count(repo) && !dgsts.count(repo)) repos.push_back(repo);
    tags[repo].push_back(tag);
  }
  for (const auto& d : img.repo_digests) {
    size_t at = d.find('@');
    if (at == std::string::npos) continue;
    std::string repo = d.substr(0, at);
    if (!tags.count(repo) && !dgsts.count(repo)) repos.push_back(repo);
    dgsts[repo].push_back(d.substr(at + 1));
  }
  for (const auto& repo : repos) {
    auto t = tags.find(repo);
    auto d = dgsts.find(repo);
    if (t != tags.end()) {
      for (const auto& tag : t->second) {
        if (!digests || d == dgsts.end()) {
          out.push_back(row(repo, tag, "<none>"));
          continue;
        }
        for (const auto& dg : d->second) out.push_back(row(repo, tag, dg));
      }
    } else if (digests) {
      for (const auto& dg : d->second) out.push_back(row(repo, "<none>", dg));
    } else {
      out.push_back(row(repo, "<none>", ""));
    }
  }
  return out;
}

const std::map<std::string, std::string> kImageHeaders = {
    {"ID", "IMAGE ID"},
    {"Repository", "REPOSITORY"},
    {"Tag", "TAG"},
    {"Digest", "DIGEST"},
    {"CreatedSince", "CREATED"},
    {"CreatedAt", "CREATED AT"},
    {"Size", "SIZE"},
    {"Containers", "CONTAINERS"},
    {"SharedSize", "SHARED SIZE"},
    {"UniqueSize", "UNIQUE SIZE"},
    {"VirtualSize", "VIRTUAL SIZE"},
};

const std::map<std::string, std::string> kHistoryHeaders = {
    {"ID", "IMAGE"},
    {"CreatedSince", "CREATED"},
    {"CreatedAt", "CREATED AT"},
    {"CreatedBy", "CREATED BY"},
    {"Size", "SIZE"},
    {"Comment", "COMMENT"},
};

// Reads y/Y from stdin after the prompt (docker's PromptForConfirmation).
io::Task<bool> confirm(std::string message) {
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

}  // namespace

// --- images ------------------------------------------------------------------------

io::Task<int> cmd_images(Cli& cli, Args args) {
  bool all = false, quiet = false, digests = false, no_trunc = false;
  std::vector<std::string> filters;
  std::string format;
  FlagSet fs(cli.path, "[OPTIONS] [REPOSITORY[:TAG]]", "List images");
  fs.add_bool('a', "all", &all, "Show all images (default hides intermediate images)")
      .add_bool(0, "digests", &digests, "Show digests")
      .add_list('f', "filter", &filters, "filter", "Filter output based on conditions provided")
      .add_string(0, "format", &format, "string",
                  "Format output using a custom template:\n'table':            Print output in "
                  "table format with column headers (default)\n'table TEMPLATE':   Print output "
                  "in table format using the given Go template\n'json':             Print in JSON "
                  "format\n'TEMPLATE':         Print output using the given Go template")
      .add_bool(0, "no-trunc", &no_trunc, "Don't truncate output")
      .add_bool('q', "quiet", &quiet, "Only show image IDs");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.max_args(1)) co_return *rc;
  if (!fs.args().empty()) filters.push_back("reference=" + fs.args()[0]);
  auto fj = filters_json(filters);
  if (!fj) {
    for (const auto& f : filters)
      if (f.find('=') == std::string::npos)
        co_return fs.usage_error(str_cat("invalid argument \"", f,
                                         "\" for \"-f, --filter\" flag: ", fj.error().message));
    co_return report(fj.error());
  }
  Query q;
  if (all) q.add("all", "1");
  if (!fj->empty()) q.add("filters", *fj);
  std::string target = str_cat(kApi, "/images/json", q.str());
  auto r = co_await cli.client.call("GET", target);
  if (!r) co_return report(r.error());
  auto images = parse_image_list(r->body);
  if (!images) co_return report(images.error());
  std::stable_sort(
      images->begin(), images->end(),
      [](const ImageSummary& a, const ImageSummary& b) { return a.created > b.created; });

  if (format.empty() || format == "table") {
    if (quiet)
      format = "{{.ID}}";
    else if (digests)
      format =
          "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
    else
      format = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
  } else if (format == "json") {
    format = "{{json .}}";
  }
  double now = now_seconds();
  std::vector<Row> rows;
  for (const auto& img : *images)
    for (auto& row : image_rows(img, digests, no_trunc, now)) rows.push_back(std::move(row));
  co_return print_rows(format, rows, kImageHeaders, "*formatter.imageContext");
}

// --- image inspect -------------------------------------------------------------------

io::Task<int> cmd_image_inspect(Cli& cli, Args args) {
  std::string format;
  FlagSet fs(cli.path, "[OPTIONS] IMAGE [IMAGE...]",
             "Display detailed information on one or more images");
  fs.add_string('f', "format", &format, "string",
                "Format output using a custom template:\n'json':             Print in JSON "
                "format\n'TEMPLATE':         Print output using the given Go template");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  if (format == "json") format.clear();
  std::optional<Template> tmpl;
  if (!format.empty()) {
    auto t = Template::parse(format, false);
    if (!t) co_return report(t.error());
    tmpl = std::move(*t);
  }
  std::vector<std::string> docs, errors;
  for (const auto& name : fs.args()) {
    std::string target = str_cat(kApi, "/images/", path_escape(name), "/json");
    auto r = co_await cli.client.call("GET", target);
    if (!r) {
      // A daemon that cannot be reached fails every name the same way.
      if (!r.error().message.starts_with("Error response from daemon")) co_return report(r.error());
      errors.push_back(r.error().message);
      continue;
    }
    docs.push_back(std::string(trim(r->body)));
  }
  if (tmpl) {
    for (const auto& d : docs) {
      auto line = tmpl->render(json_resolver(d));
      if (!line) co_return report(line.error());
      std::printf("%s\n", line->c_str());
    }
  } else {
    std::string all = "[" + join(docs, ",") + "]";
    std::printf("%s\n", indent_json(all, "    ").c_str());
  }
  std::fflush(stdout);
  if (errors.empty()) co_return 0;
  std::fprintf(stderr, "%s\n", join(errors, "\n").c_str());
  co_return 1;
}

// --- history -------------------------------------------------------------------------

io::Task<int> cmd_history(Cli& cli, Args args) {
  bool human = true, quiet = false, no_trunc = false;
  std::string format;
  FlagSet fs(cli.path, "[OPTIONS] IMAGE", "Show the history of an image");
  fs.add_string(0, "format", &format, "string",
                "Format output using a custom template:\n'table':            Print output in "
                "table format with column headers (default)\n'table TEMPLATE':   Print output "
                "in table format using the given Go template\n'json':             Print in JSON "
                "format\n'TEMPLATE':         Print output using the given Go template")
      .add_bool('H', "human", &human, "Print sizes and dates in human readable format")
      .add_bool(0, "no-trunc", &no_trunc, "Don't truncate output")
      .add_bool('q', "quiet", &quiet, "Only show image IDs");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(1)) co_return *rc;
  std::string target = str_cat(kApi, "/images/", path_escape(fs.args()[0]), "/history");
  auto r = co_await cli.client.call("GET", target);
  if (!r) co_return report(r.error());
  auto p = json::parse(r->body);
  if (!p) co_return report(p.error());
  json::od::array arr;
  if ((*p)->doc.get_array().get(arr) != simdjson::SUCCESS)
    co_return report(Error{Errc::corrupt, 0, "invalid answer from the daemon"});
  double now = now_seconds();
  std::vector<Row> rows;
  for (auto el : arr) {
    json::od::value v;
    if (el.get(v) != simdjson::SUCCESS)
      co_return report(Error{Errc::corrupt, 0, "invalid answer from the daemon"});
    std::string id, created_by, comment;
    int64_t created = 0, size = 0;
    auto res = json::for_each_field(v, "history",
                                    [&](std::string_view k, json::od::value f) -> Result<void> {
                                      if (json::is_null(f)) return {};
                                      if (k == "Id") id = BERTH_TRY(json::get_string(f, k));
                                      if (k == "CreatedBy")
                                        created_by = BERTH_TRY(json::get_string(f, k));
                                      if (k == "Comment")
                                        comment = BERTH_TRY(json::get_string(f, k));
                                      if (k == "Created") created = BERTH_TRY(json::get_int(f, k));
                                      if (k == "Size") size = BERTH_TRY(json::get_int(f, k));
                                      return {};
                                    });
    if (!res) co_return report(res.error());
    Row row;
    row["ID"] = no_trunc ? id : short_id(id);
    row["CreatedAt"] = rfc3339_local(created);
    row["CreatedSince"] = human ? time_ago(created, now) : row["CreatedAt"];
    std::string by = created_by;
    std::replace(by.begin(), by.end(), '\t', ' ');
    row["CreatedBy"] = no_trunc ? by : ellipsis(by, 45);
    row["Size"] = human ? human_size(static_cast<double>(size), 3) : std::to_string(size);
    row["Comment"] = comment;
    rows.push_back(std::move(row));
  }
  if (format.empty() || format == "table") {
    if (quiet)
      format = "{{.ID}}";
    else
      format = str_cat("table {{.ID}}\t", human ? "{{.CreatedSince}}" : "{{.CreatedAt}}",
                       "\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}");
  }
  if (format == "json") format = "{{json .}}";
  co_return print_rows(format, rows, kHistoryHeaders, "*image.historyContext");
}

// --- tag -----------------------------------------------------------------------------

io::Task<int> cmd_tag(Cli& cli, Args args) {
  FlagSet fs(cli.path, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
             "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(2)) co_return *rc;
  const std::string& source = fs.args()[0];
  const std::string& target = fs.args()[1];
  auto ref = layers::image::parse_reference(target);
  if (!ref) {
    co_return report(Error{Errc::invalid_argument, 0,
                           str_cat("Error parsing reference: \"", target,
                                   "\" is not a valid repository/tag: ", ref.error().message)});
  }
  if (ref->has_digest())
    co_return report(
        Error{Errc::invalid_argument, 0, "refusing to create a tag with a digest reference"});
  Query q;
  q.add("repo", ref->repository()).add("tag", ref->tag);
  std::string path = str_cat(kApi, "/images/", path_escape(source), "/tag", q.str());
  auto r = co_await cli.client.call("POST", path);
  if (!r) co_return report(r.error());
  co_return 0;
}

// --- rmi -----------------------------------------------------------------------------

io::Task<int> cmd_rmi(Cli& cli, Args args) {
  bool force = false, no_prune = false;
  FlagSet fs(cli.path, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images");
  fs.add_bool('f', "force", &force, "Force removal of the image")
      .add_bool(0, "no-prune", &no_prune, "Do not delete untagged parents");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.min_args(1)) co_return *rc;
  Query q;
  if (force) q.add("force", "1");
  if (no_prune) q.add("noprune", "1");
  std::vector<std::string> errors;
  bool fatal = false;
  for (const auto& name : fs.args()) {
    std::string target = str_cat(kApi, "/images/", path_escape(name), q.str());
    auto r = co_await cli.client.call("DELETE", target);
    if (!r) {
      errors.push_back(r.error().message);
      if (r.error().code != Errc::not_found) fatal = true;
      continue;
    }
    auto p = json::parse(r->body);
    if (!p) co_return report(p.error());
    json::od::array arr;
    if ((*p)->doc.get_array().get(arr) != simdjson::SUCCESS)
      co_return report(Error{Errc::corrupt, 0, "invalid answer from the daemon"});
    for (auto el : arr) {
      json::od::value v;
      if (el.get(v) != simdjson::SUCCESS) break;
      std::string untagged, deleted;
      auto res = json::for_each_field(v, "item",
                                      [&](std::string_view k, json::od::value f) -> Result<void> {
                                        if (k == "Untagged")
                                          untagged = BERTH_TRY(json::get_string(f, k));
                                        if (k == "Deleted")
                                          deleted = BERTH_TRY(json::get_string(f, k));
                                        return {};
                                      });
      if (!res) co_return report(res.error());
      if (!deleted.empty())
        std::printf("Deleted: %s\n", deleted.c_str());
      else
        std::printf("Untagged: %s\n", untagged.c_str());
    }
  }
  std::fflush(stdout);
  if (errors.empty()) co_return 0;
  std::fprintf(stderr, "%s\n", join(errors, "\n").c_str());
  // As docker: with --force, images that do not exist are not a failure.
  co_return force && !fatal ? 0 : 1;
}

// --- image prune ---------------------------------------------------------------------

io::Task<int> cmd_image_prune(Cli& cli, Args args) {
  bool all = false, force = false;
  std::vector<std::string> filters;
  FlagSet fs(cli.path, "[OPTIONS]", "Remove unused images");
  fs.add_bool('a', "all", &all, "Remove all unused images, not just dangling ones")
      .add_list(0, "filter", &filters, "filter",
                "Provide filter values (e.g. \"until=<timestamp>\")")
      .add_bool('f', "force", &force, "Do not prompt for confirmation");
  if (auto rc = fs.parse(args)) co_return *rc;
  if (auto rc = fs.exact_args(0)) co_return *rc;
  filters.push_back(all ? "dangling=false" : "dangling=true");
  auto fj = filters_json(filters);
  if (!fj) {
    for (const auto& f : filters)
      if (f.find('=') == std::string::npos)
        co_return fs.usage_error(
            str_cat("invalid argument \"", f, "\" for \"--filter\" flag: ", fj.error().message));
    co_return report(fj.error());
  }
  if (!force) {
    std::string warning =
        all ? "WARNING! This will remove all images without at least one container associated "
              "to them."
            : "WARNING! This will remove all dangling images.";
    bool yes = co_await confirm(warning);
    if (!yes) co_return 0;
  }
  Query q;
  q.add("filters", *fj);
  std::string target = str_cat(kApi, "/images/prune", q.str());
  auto r = co_await cli.client.call("POST", target);
  if (!r) co_return report(r.error());
  auto p = json::parse(r->body);
  if (!p) co_return report(p.error());
  std::vector<std::string> lines;
  uint64_t reclaimed = 0;
  auto res =
      json::for_each_root_field(**p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (k == "SpaceReclaimed") reclaimed = BERTH_TRY(json::get_uint(v, k));
        if (k == "ImagesDeleted" && !json::is_null(v)) {
          json::od::array arr;
          if (v.get_array().get(arr) != simdjson::SUCCESS)
            return std::unexpected(json::bad_field(k, "expected an array"));
          for (auto el : arr) {
            json::od::value item;
            if (el.get(item) != simdjson::SUCCESS) break;
            std::string untagged, deleted;
            BERTH_TRY(json::for_each_field(
                item, k, [&](std::string_view ik, json::od::value f) -> Result<void> {
                  if (ik == "Untagged") untagged = BERTH_TRY(json::get_string(f, ik));
                  if (ik == "Deleted") deleted = BERTH_TRY(json::get_string(f, ik));
                  return {};
                }));
            lines.push_back(untagged.empty() ? "deleted: " + deleted : "untagged: " + untagged);
          }
        }
        return {};
      });
  if (!res) co_return report(res.error());
  if (!lines.empty()) std::printf("Deleted Images:\n%s\n\n", join(lines, "\n").c_str());
  std::printf("Total reclaimed space: %s\n", human_size(static_cast<double>(reclaimed), 4).c_str());
  co_return 0;
}

// --- the image group -----------------------------------------------------------------

namespace {

struct SubCommand {
  const char* name;
  const char* alias;
  const char* summary;
  CommandFn fn;
};

const SubCommand kImageCommands[] = {
    {"history", nullptr, "Show the history of an image", &cmd_history},
    {"import", nullptr, "Import the contents from a tarball to create a filesystem image",
     &cmd_import},
    {"inspect", nullptr, "Display detailed information on one or more images", &cmd_image_inspect},
    {"load", nullptr, "Load an image from a tar archive or STDIN", &cmd_load},
    {"ls", "list", "List images", &cmd_images},
    {"prune", nullptr, "Remove unused images", &cmd_image_prune},
    {"pull", nullptr, "Download an image from a registry", &cmd_pull},
    {"push", nullptr, "Upload an image to a registry", &cmd_push},
    {"rm", "remove", "Remove one or more images", &cmd_rmi},
    {"save", nullptr, "Save one or more images to a tar archive (streamed to STDOUT by default)",
     &cmd_save},
    {"tag", nullptr, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", &cmd_tag},
};

void image_usage(FILE* out) {
  std::fprintf(out, "Usage:  berth image COMMAND\n\nManage images\n\nCommands:\n");
  for (const auto& c : kImageCommands) std::fprintf(out, "  %-11s %s\n", c.name, c.summary);
  std::fprintf(out, "\nRun 'berth image COMMAND --help' for more information on a command.\n");
}

}  // namespace

io::Task<int> cmd_image(Cli& cli, Args args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    image_usage(stdout);
    co_return 0;
  }
  for (const auto& c : kImageCommands) {
    if (args[0] == c.name || (c.alias && args[0] == c.alias)) {
      cli.path = str_cat("berth image ", args[0]);
      args.erase(args.begin());
      co_return co_await c.fn(cli, std::move(args));
    }
  }
  std::fprintf(stderr,
               "berth: unknown command: berth image %s\n\nUsage:  berth image COMMAND\n\nRun "
               "'berth image --help' for more information\n",
               args[0].c_str());
  co_return 1;
}

}  // namespace berth::cli
