// fuzz/replay_main.cc: a main() for a libFuzzer target built without
// libFuzzer (GCC, `bazel test`): runs LLVMFuzzerTestOneInput once on every
// file named on the command line, or in a directory named there, so the seed
// corpus of each target is a regression test in the normal suite.
//
//   replay_main FILE_OR_DIR...
//
// Exits 0 after running every input; a failing check inside the target
// aborts (fuzz/fuzz_check.h). Finding no input at all is an error, so a
// broken corpus path cannot pass silently.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int run_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::cerr << "replay: cannot read " << p << "\n";
    return 1;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  std::cerr << "replay: " << p.string() << " (" << bytes.size() << " bytes)\n";
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& e : std::filesystem::directory_iterator(arg)) inputs.push_back(e.path());
    } else {
      inputs.push_back(arg);
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::cerr << "replay: no inputs (usage: " << argv[0] << " FILE_OR_DIR...)\n";
    return 1;
  }
  int errors = 0;
  for (const auto& p : inputs) errors += run_file(p);
  std::cerr << "replay: " << inputs.size() - errors << " of " << inputs.size()
            << " inputs ran without a failed check\n";
  return errors == 0 ? 0 : 1;
}
