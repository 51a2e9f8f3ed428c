#include "tools/cli/rows.h"

#include <cctype>
#include <cstdio>

#include "core/base/json/writer.h"
#include "core/base/strings.h"
#include "tools/cli/cli.h"
#include "tools/cli/format.h"
#include "tools/cli/template.h"

namespace berth::cli {

namespace {

// The whole row as {{json .}} gives it: keys sorted, strings HTML-escaped.
std::string row_json(const Row& row) {
  std::string out;
  json::Writer w(out);
  w.begin_object();
  for (const auto& [k, v] : row) w.kv(k, v);
  w.end_object();
  return compact_json(out);
}

TemplateResolver row_resolver(const Row& row, const char* context_type) {
  return [&row, context_type](const TemplateAction& a) -> Result<std::string> {
    if (a.path.empty()) {
      if (a.json) return row_json(row);
      return fail(Errc::invalid_argument, "template: :1: {{.}} needs json: use {{json .}}");
    }
    auto it = row.find(a.path[0]);
    if (it == row.end() || a.path.size() > 1) {
      return fail(Errc::invalid_argument,
                  str_cat("template: :1:2: executing \"\" at <.", join(a.path, "."),
                          ">: can't evaluate field ", a.path[0], " in type ", context_type));
    }
    if (!a.json) return it->second;
    std::string q;
    json::append_string(q, it->second);
    return compact_json(q);
  };
}

}  // namespace

int print_rows(const std::string& format, const std::vector<Row>& rows,
               const std::map<std::string, std::string>& headers, const char* context_type) {
  auto t = Template::parse(format, true);
  if (!t) return report(t.error());
  if (!t->table()) {
    for (const auto& row : rows) {
      auto line = t->render(row_resolver(row, context_type));
      if (!line) return report(line.error());
      std::printf("%s\n", line->c_str());
    }
    return 0;
  }
  Table table;
  auto add_rendered = [&](const std::string& text) {
    for (auto line : split(text, '\n')) {
      std::vector<std::string> cells;
      for (auto c : split(line, '\t')) cells.emplace_back(c);
      table.add(std::move(cells));
    }
  };
  auto header = t->render([&](const TemplateAction& a) -> Result<std::string> {
    if (a.path.size() != 1) return std::string();
    auto it = headers.find(a.path[0]);
    if (it != headers.end()) return it->second;
    std::string name = a.path[0];
    for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
  });
  if (!header) return report(header.error());
  add_rendered(*header);
  for (const auto& row : rows) {
    auto line = t->render(row_resolver(row, context_type));
    if (!line) return report(line.error());
    add_rendered(*line);
  }
  table.print(stdout);
  return 0;
}

}  // namespace berth::cli
