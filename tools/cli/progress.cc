#include "tools/cli/progress.h"

#include <ctime>

#include "core/base/json/reader.h"
#include "core/base/strings.h"
#include "tools/cli/format.h"

namespace berth::cli {

namespace {

// Go's time.Duration.String() for whole seconds: "0s", "45s", "1m5s", "2h0m3s".
std::string go_duration(int64_t seconds) {
  if (seconds <= 0) return "0s";
  int64_t h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
  if (h > 0) return str_cat(h, "h", m, "m", s, "s");
  if (m > 0) return str_cat(m, "m", s, "s");
  return str_cat(s, "s");
}

// fmt's %8v: right-aligned in 8 columns.
std::string pad8(const std::string& s) {
  if (s.size() >= 8) return s;
  std::string out(8 - s.size(), ' ');
  out += s;
  return out;
}

Result<int64_t> get_number(json::od::value v, std::string_view field) {
  auto i = json::get_int(v, field);
  if (i) return i;
  auto d = json::get_double(v, field);
  if (d) return static_cast<int64_t>(*d);
  return std::unexpected(i.error());
}

}  // namespace

Result<JsonMessage> parse_json_message(std::string_view line) {
  JsonMessage m;
  auto p = BERTH_TRY(json::parse(line));
  auto r =
      json::for_each_root_field(*p, [&](std::string_view k, json::od::value v) -> Result<void> {
        if (json::is_null(v)) return {};
        if (iequals(k, "status")) m.status = BERTH_TRY(json::get_string(v, k));
        if (iequals(k, "id")) m.id = BERTH_TRY(json::get_string(v, k));
        if (iequals(k, "stream")) m.stream = BERTH_TRY(json::get_string(v, k));
        if (iequals(k, "progress")) m.progress_message = BERTH_TRY(json::get_string(v, k));
        if (iequals(k, "from")) m.from = BERTH_TRY(json::get_string(v, k));
        if (iequals(k, "error") && m.error.empty()) m.error = BERTH_TRY(json::get_string(v, k));
        if (iequals(k, "aux")) m.aux = BERTH_TRY(json::get_raw(v, k));
        if (iequals(k, "progressDetail")) {
          m.has_progress = true;
          return json::for_each_field(v, k,
                                      [&](std::string_view pk, json::od::value pv) -> Result<void> {
                                        if (json::is_null(pv)) return {};
                                        if (iequals(pk, "current"))
                                          m.current = BERTH_TRY(get_number(pv, pk));
                                        if (iequals(pk, "total"))
                                          m.total = BERTH_TRY(get_number(pv, pk));
                                        if (iequals(pk, "start"))
                                          m.start = BERTH_TRY(get_number(pv, pk));
                                        if (iequals(pk, "units"))
                                          m.units = BERTH_TRY(json::get_string(pv, pk));
                                        if (iequals(pk, "hidecounts"))
                                          m.hide_counts = BERTH_TRY(json::get_bool(pv, pk));
                                        return {};
                                      });
        }
        if (iequals(k, "errorDetail")) {
          std::string message;
          auto d = json::for_each_field(
              v, k, [&](std::string_view dk, json::od::value dv) -> Result<void> {
                if (json::is_null(dv)) return {};
                if (iequals(dk, "message")) message = BERTH_TRY(json::get_string(dv, dk));
                if (iequals(dk, "code"))
                  m.error_code = static_cast<int>(BERTH_TRY(get_number(dv, dk)));
                return {};
              });
          if (!d) return d;
          // errorDetail carries the message docker shows; "error" is its copy.
          if (!message.empty()) m.error = std::move(message);
        }
        return {};
      });
  if (!r) return std::unexpected(r.error());
  return m;
}

std::string progress_string(const JsonMessage& m, int width, int64_t now) {
  if (m.current <= 0 && m.total <= 0) return "";
  if (m.total <= 0) {
    if (m.units.empty()) return pad8(human_size(static_cast<double>(m.current), 4));
    return str_cat(m.current, " ", m.units);
  }
  int percentage =
      static_cast<int>(static_cast<double>(m.current) / static_cast<double>(m.total) * 100) / 2;
  if (percentage > 50) percentage = 50;
  std::string bar, numbers, left;
  if (width > 110) {
    int spaces = 50 - percentage > 0 ? 50 - percentage : 0;
    bar = str_cat("[", std::string(static_cast<size_t>(std::max(percentage, 0)), '='), ">",
                  std::string(static_cast<size_t>(spaces), ' '), "] ");
  }
  if (m.hide_counts) {
  } else if (m.units.empty()) {
    std::string cur = human_size(static_cast<double>(m.current), 4);
    numbers = m.current > m.total
                  ? pad8(cur)
                  : str_cat(pad8(cur), "/", human_size(static_cast<double>(m.total), 4));
  } else {
    numbers = m.current > m.total ? str_cat(m.current, " ", m.units)
                                  : str_cat(m.current, "/", m.total, " ", m.units);
  }
  if (m.current > 0 && m.start > 0 && percentage < 50) {
    double from_start = static_cast<double>(now - m.start);
    double per_entry = from_start / static_cast<double>(m.current);
    auto secs = static_cast<int64_t>(static_cast<double>(m.total - m.current) * per_entry);
    if (width > 50) left = str_cat(" ", go_duration(secs));
  }
  return str_cat(bar, numbers, left);
}

Result<void> JsonMessageDisplay::feed(std::string_view data) {
  if (failed_) return std::unexpected(*failed_);
  partial_.append(data);
  size_t begin = 0;
  for (size_t nl; (nl = partial_.find('\n', begin)) != std::string::npos; begin = nl + 1) {
    auto r = line(std::string_view(partial_).substr(begin, nl - begin));
    if (!r) {
      partial_.clear();
      return r;
    }
  }
  partial_.erase(0, begin);
  return {};
}

Result<void> JsonMessageDisplay::finish() {
  if (failed_) return std::unexpected(*failed_);
  std::string rest = std::move(partial_);
  partial_.clear();
  auto r = line(rest);
  std::fflush(out_);
  return r;
}

Result<void> JsonMessageDisplay::line(std::string_view text) {
  if (trim(text).empty()) return {};
  auto parsed = parse_json_message(text);
  if (!parsed) {
    // Not a message: show it as it came rather than lose it.
    std::fwrite(text.data(), 1, text.size(), out_);
    std::fputc('\n', out_);
    return {};
  }
  JsonMessage& m = *parsed;
  if (!m.aux.empty()) {
    if (aux_) aux_(m);
    return {};
  }
  if (!m.error.empty()) {
    std::fflush(out_);
    failed_ = Error{m.error_code == 401 ? Errc::unauthorized : Errc::internal, 0, m.error};
    return std::unexpected(*failed_);
  }
  unsigned diff = 0;
  if (!m.id.empty() && (m.has_progress || !m.progress_message.empty())) {
    auto it = ids_.find(m.id);
    unsigned at;
    if (it == ids_.end()) {
      at = static_cast<unsigned>(ids_.size());
      ids_.emplace(m.id, at);
      if (terminal_) std::fputc('\n', out_);
    } else {
      at = it->second;
    }
    diff = static_cast<unsigned>(ids_.size()) - at;
    if (terminal_ && diff > 0) std::fprintf(out_, "\x1b[%uA", diff);
  } else {
    // Anything else closes the block of redrawn lines: later progress of
    // the same ids starts new ones below it.
    ids_.clear();
  }
  display(m);
  if (!m.id.empty() && terminal_ && diff > 0) std::fprintf(out_, "\x1b[%uB", diff);
  std::fflush(out_);
  return {};
}

void JsonMessageDisplay::display(const JsonMessage& m) {
  int64_t now = now_ ? *now_ : static_cast<int64_t>(std::time(nullptr));
  std::string bar = m.has_progress ? progress_string(m, width_, now) : std::string();
  const char* endl = "";
  if (terminal_ && m.stream.empty() && m.has_progress) {
    std::fputs("\x1b[2K\r", out_);
    endl = "\r";
  } else if (m.has_progress && !bar.empty()) {
    return;  // no progress bars without a terminal
  }
  if (!m.id.empty()) std::fprintf(out_, "%s: ", m.id.c_str());
  if (!m.from.empty()) std::fprintf(out_, "(from %s) ", m.from.c_str());
  if (m.has_progress && terminal_) {
    std::fprintf(out_, "%s %s%s", m.status.c_str(), bar.c_str(), endl);
  } else if (!m.progress_message.empty()) {
    std::fprintf(out_, "%s %s%s", m.status.c_str(), m.progress_message.c_str(), endl);
  } else if (!m.stream.empty()) {
    std::fprintf(out_, "%s%s", m.stream.c_str(), endl);
  } else {
    std::fprintf(out_, "%s%s\n", m.status.c_str(), endl);
  }
}

}  // namespace berth::cli
