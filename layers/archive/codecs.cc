#include "layers/archive/codecs.h"

#include <algorithm>

#include "core/base/strings.h"

namespace berth::layers::archive::codec {

Error MemberDecompressor::error(Errc code, std::string_view what) const {
  return Error{code, 0, str_cat(name(), ": ", what)};
}

Result<CodecStep> MemberDecompressor::decompress(std::string_view in, std::span<char> out) {
  if (state_ == State::failed) return std::unexpected(error_);
  CodecStep r;
  auto take = [&](size_t n) {
    r.consumed += n;
    offset_ += n;
    in.remove_prefix(n);
  };
  auto failed = [&](Error e) -> Result<CodecStep> {
    state_ = State::failed;
    error_ = e;
    return std::unexpected(std::move(e));
  };
  while (true) {
    switch (state_) {
      case State::ignoring:
        take(in.size());
        r.done = true;
        return r;
      case State::between: {
        size_t magic = magic_size();
        if (pending_.size() < magic) {
          size_t n = std::min(magic - pending_.size(), in.size());
          pending_.append(in.data(), n);
          take(n);
        }
        if (pending_.empty()) {
          r.done = members_ > 0;
          return r;
        }
        if (pending_.size() < magic) return r;
        if (!magic_ok(std::string_view(pending_).substr(0, magic))) {
          if (members_ > 0 && trailing_ == TrailingData::ignore) {
            pending_.clear();
            state_ = State::ignoring;
            continue;
          }
          if (members_ == 0) return failed(error(Errc::corrupt, "not in the expected format"));
          return failed(error(Errc::corrupt, str_cat("trailing garbage after member ", members_,
                                                     " (offset ", offset_ - pending_.size(), ")")));
        }
        start_member();
        state_ = State::member;
        continue;
      }
      case State::member: {
        bool from_pending = !pending_.empty();
        std::string_view src = from_pending ? std::string_view(pending_) : in;
        auto s = step(src, out);
        if (!s) {
          return failed(
              error(s.error().code, str_cat(s.error().message, " (in member ", members_ + 1,
                                            ", near offset ", offset_, ")")));
        }
        if (from_pending)
          pending_.erase(0, s->consumed);
        else
          take(s->consumed);
        r.produced += s->produced;
        out = out.subspan(s->produced);
        if (s->member_end) {
          ++members_;
          state_ = State::between;
          if (!s->unread.empty()) pending_.insert(0, s->unread);
          continue;
        }
        if (s->consumed == 0 && s->produced == 0) return r;
        if (out.empty()) return r;
        if (!from_pending && in.empty()) return r;
        continue;
      }
      case State::failed: return std::unexpected(error_);
    }
  }
}

Result<void> MemberDecompressor::finish() {
  if (state_ == State::failed) return std::unexpected(error_);
  Error e;
  switch (state_) {
    case State::ignoring: return {};
    case State::member:
      e = error(Errc::corrupt,
                str_cat("unexpected end of stream in member ", members_ + 1, " (truncated)"));
      break;
    case State::between:
      if (pending_.empty()) {
        if (members_ > 0) return {};
        e = error(Errc::corrupt, "empty stream");
      } else if (members_ > 0 && trailing_ == TrailingData::ignore) {
        return {};
      } else if (members_ == 0) {
        e = error(Errc::corrupt, "stream too short (truncated or not compressed)");
      } else {
        e = error(Errc::corrupt, str_cat("trailing garbage after member ", members_));
      }
      break;
    case State::failed: break;
  }
  state_ = State::failed;
  error_ = e;
  return std::unexpected(std::move(e));
}

}  // namespace berth::layers::archive::codec
