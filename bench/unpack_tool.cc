// unpack_tool: unpacks one layer file (gzip, zstd or plain tar) into a
// directory with berth's extraction engine and prints the digests, counts
// and wall time. Used by bench/unpack.sh to compare against tar and bsdtar.
//
//   unpack_tool [--sync] [--zlib] [--keep-whiteouts] FILE DEST
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "layers/extract/unpack.h"

int main(int argc, char** argv) {
  using namespace berth::layers;
  extract::UnpackOptions opts;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (!std::strcmp(argv[i], "--sync"))
      opts.writer.use_uring = false;
    else if (!std::strcmp(argv[i], "--zlib"))
      opts.decompress.gzip_backend = archive::GzipBackend::zlib;
    else if (!std::strcmp(argv[i], "--keep-whiteouts"))
      opts.writer.overlay_whiteouts = false;
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (argc - i != 2) {
    std::fprintf(stderr, "usage: unpack_tool [--sync] [--zlib] [--keep-whiteouts] FILE DEST\n");
    return 2;
  }
  std::filesystem::create_directories(argv[i + 1]);
  auto t0 = std::chrono::steady_clock::now();
  auto r = extract::unpack_file(argv[i], argv[i + 1], opts);
  auto t1 = std::chrono::steady_clock::now();
  if (!r) {
    std::fprintf(stderr, "unpack: %s\n", r.error().message.c_str());
    return 1;
  }
  double s = std::chrono::duration<double>(t1 - t0).count();
  std::printf(
      "{\"seconds\":%.4f,\"compression\":\"%s\",\"compressed_digest\":\"%s\",\"diff_id\":\"%s\","
      "\"compressed_size\":%llu,\"size\":%llu,\"entries\":%llu,\"files\":%llu,\"batches\":%llu}\n",
      s, std::string(archive::compression_name(r->compression)).c_str(),
      r->compressed_digest.to_string().c_str(), r->diff_id.to_string().c_str(),
      static_cast<unsigned long long>(r->compressed_size), static_cast<unsigned long long>(r->size),
      static_cast<unsigned long long>(r->writer.entries),
      static_cast<unsigned long long>(r->writer.files),
      static_cast<unsigned long long>(r->writer.batches));
  return 0;
}
