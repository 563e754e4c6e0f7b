#include "examples/asr/datasets.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "examples/asr/alphabet.h"
#include "examples/asr/audio_file.h"
#include <mantissa/autograd/functions.h>
#include <mantissa/core/error.h>

namespace mantissa::asr {

namespace fs = std::filesystem;

namespace {

// Reads one file into `clips`, or reports and skips it when asked to.
void add_clip(std::vector<Clip>& clips, const fs::path& path, std::string text, std::string speaker, int sample_rate,
              bool skip_unreadable, std::ostream& warnings) {
  try {
    try {
      encode_transcript(text);  // refuses a transcript the alphabet cannot spell, before any audio is read
    } catch (const Error& e) {
      fail("asr data", "{}: {}", path.string(), e.what());
    }
    clips.push_back({read_audio(path.string(), sample_rate), std::move(text), std::move(speaker), path.filename().string()});
  } catch (const Error& e) {
    if (!skip_unreadable) throw;
    warnings << "warning: skipped " << path.string() << ": " << e.what() << "\n";
  }
}

}  // namespace

const char* to_string(FsddSplit split) {
  switch (split) {
    case FsddSplit::train: return "train";
    case FsddSplit::dev: return "dev";
    case FsddSplit::test: return "test";
  }
  return "?";
}

FsddSplit fsdd_split_of(int take) { return take < 5 ? FsddSplit::test : take >= 45 ? FsddSplit::dev : FsddSplit::train; }

std::vector<Clip> load_fsdd(const fs::path& recordings, FsddSplit split, int sample_rate, bool skip_unreadable,
                            std::ostream& warnings) {
  MANTISSA_CHECK(fs::is_directory(recordings), "load_fsdd",
                 "{} is not a folder (FSDD's recordings: set --data or MANTISSA_DATA_DIR)", recordings.string());
  static const std::regex name(R"(([0-9])_([a-z]+)_([0-9]+)\.wav)");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(recordings)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<Clip> clips;
  for (const fs::path& path : files) {
    std::smatch m;
    const std::string file = path.filename().string();
    if (!std::regex_match(file, m, name) || fsdd_split_of(std::stoi(m[3].str())) != split) continue;
    add_clip(clips, path, digit_word(std::stoi(m[1].str())), m[2].str(), sample_rate, skip_unreadable, warnings);
  }
  MANTISSA_CHECK(!clips.empty(), "load_fsdd", "{} holds no FSDD recordings of the {} split", recordings.string(),
                 to_string(split));
  return clips;
}

std::vector<Clip> load_manifest(const fs::path& manifest, int sample_rate, bool skip_unreadable,
                                std::ostream& warnings) {
  std::ifstream in(manifest);
  MANTISSA_CHECK(in.good(), "load_manifest", "cannot read {}", manifest.string());
  std::vector<Clip> clips;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string audio, text, speaker;
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      audio = j.at("audio_filepath").get<std::string>();
      text = j.at("text").get<std::string>();
      speaker = j.value("speaker", manifest.parent_path().filename().string());
    } catch (const nlohmann::json::exception& e) {
      fail("load_manifest", "{} line {}: not a manifest entry ({{\"audio_filepath\", \"text\"}}): {}", manifest.string(),
           number, e.what());
    }
    const fs::path path = fs::path(audio).is_absolute() ? fs::path(audio) : manifest.parent_path() / audio;
    add_clip(clips, path, text, speaker, sample_rate, skip_unreadable, warnings);
  }
  MANTISSA_CHECK(!clips.empty(), "load_manifest", "{} lists no clips", manifest.string());
  return clips;
}

std::vector<double> uniforms(int64_t count, Generator& generator) {
  return raw::rand({count}, TensorOptions{}.with_dtype(DType::f64), &generator).to_vector<double>();
}

size_t pick(double u, size_t n) { return std::min(n - 1, static_cast<size_t>(u * static_cast<double>(n))); }

Joiner::Joiner(const std::vector<Clip>& clips, JoinOptions options, int sample_rate)
    : clips_(&clips), options_(options), sample_rate_(sample_rate) {
  MANTISSA_CHECK(!clips.empty() && options.min_parts >= 1 && options.min_parts <= options.max_parts, "Joiner",
                 "needs clips and 1 <= min_parts <= max_parts, got {} clips, parts {}-{}", clips.size(),
                 options.min_parts, options.max_parts);
  std::map<std::string, std::vector<size_t>> speakers;  // sorted by name: the same order on every run
  for (size_t i = 0; i < clips.size(); ++i) speakers[clips[i].speaker].push_back(i);
  for (auto& [_, indices] : speakers) by_speaker_.push_back(std::move(indices));
}

Clip Joiner::draw(Generator& generator) const {
  const JoinOptions& o = options_;
  const std::vector<double> u = uniforms(2 * o.max_parts + 4, generator);
  const std::vector<size_t>& speaker = by_speaker_[pick(u[0], by_speaker_.size())];
  const int parts = o.min_parts + static_cast<int>(pick(u[1], static_cast<size_t>(o.max_parts - o.min_parts + 1)));
  auto silence = [&](double v) {
    return static_cast<size_t>((o.min_gap_seconds + v * (o.max_gap_seconds - o.min_gap_seconds)) * sample_rate_);
  };
  Clip joined;
  joined.samples.resize(silence(u[2]));
  for (int i = 0; i < parts; ++i) {
    const Clip& part = (*clips_)[speaker[pick(u[static_cast<size_t>(3 + i)], speaker.size())]];
    joined.samples.insert(joined.samples.end(), part.samples.begin(), part.samples.end());
    joined.samples.resize(joined.samples.size() + silence(u[static_cast<size_t>(3 + o.max_parts + i)]));
    joined.text += (i ? " " : "") + part.text;
    joined.source += (i ? "+" : "") + part.source;
    joined.speaker = part.speaker;
  }
  const double noise_db = o.min_noise_db + u.back() * (o.max_noise_db - o.min_noise_db);
  const double noise_rms = std::pow(10.0, noise_db / 20.0);
  const std::vector<float> noise =
      raw::randn({static_cast<int64_t>(joined.samples.size())}, {}, &generator).to_vector<float>();
  for (size_t i = 0; i < joined.samples.size(); ++i) joined.samples[i] += static_cast<float>(noise_rms * noise[i]);
  return joined;
}

std::vector<Clip> Joiner::fixed_set(int64_t count, uint64_t seed) const {
  Generator generator(seed);
  std::vector<Clip> set;
  for (int64_t i = 0; i < count; ++i) set.push_back(draw(generator));
  return set;
}

}  // namespace mantissa::asr
