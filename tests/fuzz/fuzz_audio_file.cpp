// libFuzzer target: arbitrary bytes as an audio file, through the ASR example's reader
// (examples/asr/audio_file.h: libsndfile, then libsamplerate to 16 kHz). Every input must be
// refused with mantissa::Error or give a non-empty mono signal of finite samples. The bytes
// reach libsndfile as a file (a memfd), as in training.
// Built and run by scripts/fuzz.sh.
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "examples/asr/audio_file.h"
#include "tests/fuzz/fuzz_check.h"
#include <mantissa/core/error.h>

using namespace mantissa;

namespace {

constexpr int kRate = 16000;  // the ASR frontend's

// A file holding `bytes`, named by its /proc path; closed when the input is done.
struct MemoryFile {
  MemoryFile(const uint8_t* data, size_t size) : fd(memfd_create("fuzz_audio", 0)) {
    fuzz_require(fd >= 0 && write(fd, data, size) == static_cast<ssize_t>(size), "cannot make a memory file");
  }
  ~MemoryFile() { close(fd); }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd); }
  int fd;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const MemoryFile file(data, size);
  try {
    const std::vector<float> samples = asr::read_audio(file.path(), kRate);
    fuzz_require(!samples.empty(), "an accepted file gave no samples");
    for (size_t i = 0; i < samples.size(); ++i)
      fuzz_require(std::isfinite(samples[i]), "sample {} of an accepted file is {}", i, samples[i]);
  } catch (const Error&) {
    // a refusal is a correct answer to a file that is not audio
  }
  return 0;
}
