// FsWriter: the TarSink that turns a layer archive's members into files
// under a layer root directory — safely and in batches.
//
// Safety: the layer root starts empty and only this writer touches it, so
// the writer keeps an exact model of what it has created. Paths are cleaned
// lexically; ".." that would leave the root is an error. A path whose parents
// are all real directories in the model (the common case) is created with
// root-relative calls, the kernel told not to follow any symlink
// (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) as a second fence. A path
// under a symlink the archive planted is resolved with openat2
// RESOLVE_IN_ROOT, so "/etc" in a link means the layer's etc. Hardlinks must
// name an earlier non-directory member reachable without symlinks. OCI
// whiteouts become overlayfs whiteouts (0/0 char devices,
// trusted.overlay.opaque=y) unless disabled.
//
// Speed: regular files are written through io_uring — openat2 into a direct
// descriptor slot, writes straight from the caller's input buffer, close —
// many files per io_uring_enter. Owner, mode fix-ups and times follow once
// the batch completes; directory modes and times are set last, deepest
// first, so creating children does not disturb them.
//
// Threading: one writer per thread; create it on the thread that uses it
// (its io_uring is single-issuer). The thread's umask is cleared (the
// thread gets its own fs context) so modes come out exact.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "layers/archive/tar_reader.h"

namespace berth::layers::extract {

struct WriterOptions {
  bool use_uring = true;
  unsigned batch_files = 128;     // files in flight per io_uring batch
  bool overlay_whiteouts = true;  // OCI whiteouts -> overlayfs whiteouts
  bool apply_ownership = true;    // chown members to their uid/gid
};

struct WriterStats {
  uint64_t entries = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t batches = 0;
};

class FsWriter : public archive::TarSink {
 public:
  // root must be an existing, empty directory.
  static Result<std::unique_ptr<FsWriter>> create(const std::string& root,
                                                  const WriterOptions& opts);
  ~FsWriter() override;

  Result<void> on_entry(const archive::Entry& e) override;
  Result<void> on_data(std::string_view data) override;
  Result<void> on_entry_end() override;

  // The input buffer currently fed to the reader: data views inside it are
  // written without a copy, so it must stay untouched until flush().
  void set_input_window(const char* begin, const char* end);
  // Submits queued I/O, waits for it and applies what must follow it.
  Result<void> flush();
  // After the last member: flush, then directories' modes, owners, times.
  Result<void> finish();
  const WriterStats& stats() const;

  struct Impl;

 private:
  explicit FsWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Lexically cleans an archive path ("a/./b/../c" -> "a/c"); an escape above
// the root is an error. The root itself cleans to "".
Result<std::string> clean_member_path(std::string_view path);

}  // namespace berth::layers::extract
