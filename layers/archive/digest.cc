#include "layers/archive/digest.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <utility>

#include "core/base/strings.h"

namespace berth::layers::archive {

namespace {

constexpr std::string_view kPrefix = "sha256:";

// Fetched once: implicit EVP_sha256() lookups cost a lock per init in OpenSSL 3.
const EVP_MD* sha256_md() {
  static const EVP_MD* md = EVP_sha256();
  return md;
}

void init_or_die(EVP_MD_CTX* ctx) {
  // Fails only without memory or a broken OpenSSL; neither leaves a way on.
  if (!ctx || EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1) std::abort();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not canonical and so not accepted
}

}  // namespace

Result<Digest> Digest::parse(std::string_view s) {
  if (!s.starts_with(kPrefix)) {
    size_t colon = s.find(':');
    if (colon != std::string_view::npos)
      return fail(Errc::invalid_argument,
                  str_cat("unsupported digest algorithm \"",
                          s.substr(0, std::min<size_t>(colon, 32)), "\" (only sha256)"));
    return fail(Errc::invalid_argument, "invalid digest: expected sha256:<64 hex digits>");
  }
  std::string_view hex = s.substr(kPrefix.size());
  if (hex.size() != 64)
    return fail(Errc::invalid_argument,
                str_cat("invalid sha256 digest: ", hex.size(), " hex digits, expected 64"));
  std::array<uint8_t, 32> bytes;
  for (size_t i = 0; i < 32; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return fail(Errc::invalid_argument, "invalid sha256 digest: not lowercase hex");
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return Digest(bytes);
}

std::string Digest::hex() const {
  return to_hex(bytes_.data(), bytes_.size());
}

std::string Digest::to_string() const {
  return str_cat(kPrefix, hex());
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  init_or_die(ctx_);
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

Sha256::Sha256(Sha256&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

Sha256& Sha256::operator=(Sha256&& o) noexcept {
  if (this != &o) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(o.ctx_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void Sha256::update(std::string_view data) {
  if (data.empty()) return;
  EVP_DigestUpdate(ctx_, data.data(), data.size());
  bytes_ += data.size();
}

Digest Sha256::finish() {
  std::array<uint8_t, 32> out;
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, out.data(), &len);
  init_or_die(ctx_);
  bytes_ = 0;
  return Digest(out);
}

Digest sha256(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

}  // namespace berth::layers::archive
