// ContainerStore: containers' configuration and state in the state database,
// so `ps -a`, inspect and logs survive a daemon restart. One row per
// container; the state column is rewritten at each transition.
//
// Every call blocks (SQLite): run from the blocking pool. Thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "core/base/db.h"
#include "core/base/error.h"
#include "core/container/container.h"

namespace berth::core::container {

class ContainerStore {
 public:
  static Result<std::unique_ptr<ContainerStore>> open(db::Database& db);

  // The whole row (under c.mu by the caller, or before c is shared).
  Result<void> insert(const Container& c);
  Result<void> save_state(const std::string& id, const State& s);
  Result<void> save_name(const std::string& id, const std::string& name);
  Result<void> save_config(const Container& c);
  Result<void> remove(const std::string& id);
  // Every container, for startup.
  Result<std::vector<std::shared_ptr<Container>>> load_all();

 private:
  explicit ContainerStore(db::Database& db) : db_(db) {}
  db::Database& db_;
};

std::string state_to_json(const State& s);
Result<State> state_from_json(std::string_view json);

}  // namespace berth::core::container
