#include "core/base/db.h"

#include "core/base/strings.h"

namespace berth::db {

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int i, std::string_view text) {
  sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

Statement& Statement::bind(int i, double v) {
  sqlite3_bind_double(stmt_, i, v);
  return *this;
}

Statement& Statement::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Statement& Statement::bind_blob(int i, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_);
  Errc code = rc == SQLITE_CONSTRAINT ? Errc::conflict
              : rc == SQLITE_FULL     ? Errc::io
              : rc == SQLITE_BUSY     ? Errc::unavailable
                                      : Errc::internal;
  return fail(code, str_cat("sqlite: ", sqlite3_errmsg(db)));
}

Result<void> Statement::run() {
  for (;;) {
    bool row = BERTH_TRY(step());
    if (!row) return {};
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n)) : std::string();
}

int64_t Statement::int64(int col) const {
  return sqlite3_column_int64(stmt_, col);
}
double Statement::real(int col) const {
  return sqlite3_column_double(stmt_, col);
}
bool Statement::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::string Statement::blob(int col) const {
  const void* b = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return b ? std::string(static_cast<const char*>(b), static_cast<size_t>(n)) : std::string();
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path) {
  std::unique_ptr<Database> d(new Database());
  d->path_ = path;
  int rc =
      sqlite3_open_v2(path.c_str(), &d->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = d->db_ ? sqlite3_errmsg(d->db_) : "out of memory";
    return fail(Errc::io, str_cat("open database ", path, ": ", msg));
  }
  sqlite3_busy_timeout(d->db_, 5000);
  // WAL: readers never block the writer; synchronous=NORMAL is durable
  // across process crashes (the WAL is fsynced at checkpoints).
  BERTH_TRY(
      d->exec("PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
              " PRAGMA foreign_keys=ON;"
              "PRAGMA temp_store=MEMORY;"));
  return d;
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Error Database::error(std::string_view what) {
  return Error{Errc::internal, 0, str_cat(what, ": ", sqlite3_errmsg(db_))};
}

Result<void> Database::exec(std::string_view sql) {
  Lock lock(*this);
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return fail(rc == SQLITE_CONSTRAINT ? Errc::conflict : Errc::internal, "sqlite: " + msg);
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(error(str_cat("prepare ", sql)));
  return Statement(st);
}

int64_t Database::last_insert_rowid() {
  return sqlite3_last_insert_rowid(db_);
}
int Database::changes() {
  return sqlite3_changes(db_);
}

}  // namespace berth::db
