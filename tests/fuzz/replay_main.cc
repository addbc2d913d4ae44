// Replays the inputs of a fuzz target without libFuzzer: every file in the directories named on the
// command line goes through LLVMFuzzerTestOneInput. ctest runs it on tests/fuzz/regressions/ so
// inputs that once crashed a parser keep being checked (with ASan/UBSan under GORETAIN_SANITIZE).
// `--random N SEED` adds N inputs of random bytes (up to 1 KiB) from a fixed seed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  int n = 0;
  for (int i = 1; i < argc; i++) {
    if (std::string(argv[i]) == "--random" && i + 2 < argc) {
      const int count = std::atoi(argv[i + 1]);
      std::mt19937_64 rng(std::strtoull(argv[i + 2], nullptr, 10));
      for (int k = 0; k < count; k++, n++) {
        std::vector<uint8_t> input(rng() % 1024);
        for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
        LLVMFuzzerTestOneInput(input.data(), input.size());
      }
      i += 2;
      continue;
    }
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(argv[i], ec)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // Copy into an exactly sized buffer so ASan sees reads past the end of the input.
      std::vector<uint8_t> exact(bytes.begin(), bytes.end());
      LLVMFuzzerTestOneInput(exact.data(), exact.size());
      n++;
    }
    if (ec) {
      std::fprintf(stderr, "%s: %s\n", argv[i], ec.message().c_str());
      return 1;
    }
  }
  if (n == 0) {
    std::fprintf(stderr, "no inputs found\n");
    return 1;
  }
  std::printf("replayed %d inputs\n", n);
  return 0;
}
