#pragma once
// The ASR example's data: Free Spoken Digit Dataset recordings (5 speakers x 10 digits x 50
// takes, 8 kHz), split by take as FSDD itself does (takes 0-4 test) with takes 45-49 of the
// training takes held out as a development set for choosing the best checkpoint; continuous
// digit strings joined from one speaker's takes with short random silences and light noise;
// and any folder described by a NeMo-style manifest (manifest.jsonl: one
// {"audio_filepath": ..., "text": ...} per line, paths relative to the manifest), which is
// how scripts/asr_data.sh delivers the espeak-ng voices and the asterisk prompts.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <mantissa/core/random.h>

namespace mantissa::asr {

// One recording, resampled to the frontend's rate.
struct Clip {
  std::vector<float> samples;
  std::string text;
  std::string speaker;
  std::string source;  // file name(s), for messages
};

enum class FsddSplit { train, dev, test };
const char* to_string(FsddSplit split);
// takes 0-4: test (FSDD's own split); 45-49: dev; the rest: train.
FsddSplit fsdd_split_of(int take);

// Every "<digit>_<speaker>_<take>.wav" under `recordings` in `split`, sorted by name, read at
// `sample_rate`. A file that cannot be read is an Error naming it, unless `skip_unreadable`,
// when it is reported on `warnings` and left out.
std::vector<Clip> load_fsdd(const std::filesystem::path& recordings, FsddSplit split, int sample_rate,
                            bool skip_unreadable, std::ostream& warnings);

// A manifest's clips (see above), read at `sample_rate`; the same rule for unreadable files.
std::vector<Clip> load_manifest(const std::filesystem::path& manifest, int sample_rate, bool skip_unreadable,
                                std::ostream& warnings);

struct JoinOptions {
  int min_parts = 2, max_parts = 5;
  double min_gap_seconds = 0.1, max_gap_seconds = 0.4;  // silence before, between and after
  double min_noise_db = -50.0, max_noise_db = -35.0;      // white noise, dB of full scale (RMS)
};

// Draws random utterances made of one speaker's clips. Every draw comes from `generator`, so
// a stream restored from a checkpoint draws what the uninterrupted one would.
class Joiner {
 public:
  Joiner(const std::vector<Clip>& clips, JoinOptions options, int sample_rate);
  // min_parts..max_parts clips of one random speaker, their texts joined by spaces.
  Clip draw(Generator& generator) const;
  // `count` joined utterances from a fresh stream seeded with `seed`: a fixed test set.
  std::vector<Clip> fixed_set(int64_t count, uint64_t seed) const;

 private:
  const std::vector<Clip>* clips_;
  JoinOptions options_;
  int sample_rate_;
  std::vector<std::vector<size_t>> by_speaker_;  // indices into clips_, per speaker
};

// `count` uniforms in [0, 1) from `generator`.
std::vector<double> uniforms(int64_t count, Generator& generator);
// floor(u * n), kept below n.
size_t pick(double u, size_t n);

}  // namespace mantissa::asr
