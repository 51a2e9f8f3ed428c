#include "core/runtime/seccomp_cache.h"

namespace berth::core::runtime {

namespace {

const std::shared_ptr<const SeccompProgram>& unconfined_program() {
  static const auto program = std::make_shared<const SeccompProgram>();
  return program;
}

}  // namespace

SeccompCache::SeccompCache(SeccompTarget target, size_t max_profiles)
    : target_(std::move(target)), max_profiles_(max_profiles == 0 ? 1 : max_profiles) {}

SeccompCache& SeccompCache::shared() {
  static SeccompCache cache;
  return cache;
}

uint64_t SeccompCache::compiled() const {
  std::lock_guard lock(mu_);
  return compiled_;
}

Result<std::shared_ptr<const SeccompProgram>> SeccompCache::get(std::string_view profile,
                                                                CapMask bounding, bool privileged) {
  if (privileged || profile == "unconfined") return unconfined_program();
  const bool is_default = profile.empty() || profile == "builtin";

  std::shared_ptr<const SeccompProfile> parsed;
  {
    std::lock_guard lock(mu_);
    const Entry* e = &default_;
    if (!is_default) {
      auto it = custom_.find(profile);
      e = it == custom_.end() ? nullptr : &it->second;
    }
    if (e && e->profile) {
      auto p = e->programs.find(bounding & e->profile->referenced_caps);
      if (p != e->programs.end()) return p->second;
      parsed = e->profile;
    }
  }

  if (!parsed)
    parsed = std::make_shared<const SeccompProfile>(
        BERTH_TRY(parse_seccomp_profile(is_default ? default_seccomp_profile_json() : profile)));
  const CapMask key = bounding & parsed->referenced_caps;
  auto program =
      std::make_shared<const SeccompProgram>(BERTH_TRY(compile_seccomp(*parsed, key, target_)));

  std::lock_guard lock(mu_);
  ++compiled_;
  Entry* e = &default_;
  if (!is_default) {
    auto it = custom_.find(profile);
    if (it == custom_.end()) {
      it = custom_.emplace(std::string(profile), Entry{}).first;
      custom_order_.emplace_back(profile);
      if (custom_.size() > max_profiles_) {
        custom_.erase(custom_order_.front());
        custom_order_.pop_front();
      }
    }
    e = &it->second;
  }
  if (!e->profile) e->profile = parsed;
  return e->programs.emplace(key, std::move(program)).first->second;
}

}  // namespace berth::core::runtime
