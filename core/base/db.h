// Database: the SQLite state store (ROOT/berth.db) — one connection in WAL
// mode shared by the components that keep metadata there (images, tags and
// layers in layers/image; containers, volumes, networks in core/state).
//
// Every call blocks (disk I/O): call it from the blocking pool or at
// startup, never on a reactor. Thread-safety: the connection is serialized
// by an internal mutex; hold a Database::Lock across statements that must
// not interleave with other threads (transaction() takes it for you).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace berth::db {

class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* s) : stmt_(s) {}
  Statement(Statement&& o) noexcept : stmt_(std::exchange(o.stmt_, nullptr)) {}
  Statement& operator=(Statement&& o) noexcept;
  ~Statement();

  // Parameters are 1-based, as in SQLite. Text and blobs are copied.
  Statement& bind(int i, std::string_view text);
  Statement& bind(int i, const char* text) { return bind(i, std::string_view(text)); }
  Statement& bind(int i, const std::string& text) { return bind(i, std::string_view(text)); }
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, double v);
  Statement& bind_null(int i);
  Statement& bind_blob(int i, std::string_view bytes);

  // true: a row is ready; false: done.
  Result<bool> step();
  // Steps to completion, ignoring rows.
  Result<void> run();
  void reset();

  // Columns are 0-based.
  std::string text(int col) const;
  int64_t int64(int col) const;
  double real(int col) const;
  bool is_null(int col) const;
  std::string blob(int col) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  static Result<std::unique_ptr<Database>> open(const std::string& path);
  ~Database();

  class Lock {
   public:
    explicit Lock(Database& d) : lock_(d.mu_) {}

   private:
    std::unique_lock<std::recursive_mutex> lock_;
  };

  Result<void> exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  // Runs fn() between BEGIN IMMEDIATE and COMMIT; rolls back if fn fails.
  template <class Fn>
  Result<void> transaction(Fn&& fn) {
    Lock lock(*this);
    BERTH_TRY(exec("BEGIN IMMEDIATE"));
    Result<void> r = fn();
    if (!r) {
      (void)exec("ROLLBACK");
      return r;
    }
    auto c = exec("COMMIT");
    if (!c) (void)exec("ROLLBACK");
    return c;
  }
  int64_t last_insert_rowid();
  int changes();
  const std::string& path() const { return path_; }

 private:
  Database() = default;
  Error error(std::string_view what);
  sqlite3* db_ = nullptr;
  std::recursive_mutex mu_;
  std::string path_;
};

}  // namespace berth::db
