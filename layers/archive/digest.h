// Content digests: streaming SHA-256 (OpenSSL EVP, which uses the CPU's SHA
// extensions) and the "sha256:<64 lowercase hex>" strings that name blobs,
// layers and images. Only sha256 is accepted, as the OCI registries berth
// talks to use nothing else.
//
// Digest is a plain value (thread-compatible). A Sha256 hasher is used by one
// thread at a time; it owns an OpenSSL context and is move-only.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"

struct evp_md_ctx_st;

namespace berth::layers::archive {

class Digest {
 public:
  Digest() = default;  // all-zero bytes; not the digest of anything useful
  explicit Digest(const std::array<uint8_t, 32>& bytes) : bytes_(bytes) {}

  // Parses "sha256:<64 lowercase hex>"; anything else is invalid_argument.
  static Result<Digest> parse(std::string_view s);
  static bool valid(std::string_view s) { return parse(s).has_value(); }

  const std::array<uint8_t, 32>& bytes() const { return bytes_; }
  std::string hex() const;        // 64 lowercase hex digits
  std::string to_string() const;  // "sha256:" + hex()

  friend bool operator==(const Digest&, const Digest&) = default;

 private:
  std::array<uint8_t, 32> bytes_{};
};

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& o) noexcept;
  Sha256& operator=(Sha256&& o) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view data);
  // The digest of everything updated so far; the hasher starts over after.
  Digest finish();
  uint64_t bytes() const { return bytes_; }  // hashed since the last finish()

 private:
  evp_md_ctx_st* ctx_ = nullptr;
  uint64_t bytes_ = 0;
};

// One-shot helper.
Digest sha256(std::string_view data);

}  // namespace berth::layers::archive
