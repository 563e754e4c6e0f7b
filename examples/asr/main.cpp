// The ASR example: `asr train` trains a CTC speech recogniser on spoken digits (FSDD, and
// espeak-ng voices where scripts/asr_data.sh made them); `asr eval` reports WER and CER of a
// checkpoint per test set; `asr transcribe` turns WAV (FLAC, OGG) files into text.
#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>

#include "examples/asr/audio_file.h"
#include "examples/asr/lexicon.h"
#include "examples/asr/trainer.h"
#include "examples/common/divergence_flags.h"
#include "examples/common/error_exit.h"
#include "examples/common/precision_flags.h"

using namespace mantissa;
using namespace mantissa::asr;

namespace {

void add_train_flags(CLI::App& cmd, TrainOptions& o, std::string& preset_name) {
  cmd.add_option("--preset", preset_name, "cpu (trains in minutes on 2 cores) or bench (torch_asr.py's sizes)")
      ->capture_default_str();
  cmd.add_option("--data", o.data, "folder holding fsdd/recordings (default: $MANTISSA_DATA_DIR or ../shared/data)");
  cmd.add_option("--extra-data", o.extra_data, "scripts/asr_data.sh's folder (espeak-ng voices, asterisk prompts)")
      ->capture_default_str();
  cmd.add_option("--steps", o.steps, "optimizer steps")->capture_default_str();
  cmd.add_option("--batch-size", o.batch_size, "utterances per step")->capture_default_str();
  cmd.add_option("--length-groups", o.length_groups,
                 "run each batch as this many groups of similar length (less padding)")->capture_default_str();
  cmd.add_option("--d-model", o.model.d_model);
  cmd.add_option("--n-head", o.model.n_head);
  cmd.add_option("--n-layer", o.model.n_layer);
  cmd.add_option("--d-ff", o.model.d_ff);
  cmd.add_option("--dropout", o.model.dropout);
  cmd.add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  cmd.add_option("--min-lr", o.min_lr, "learning rate at the end of the cosine decay");
  cmd.add_option("--warmup-steps", o.warmup_steps);
  cmd.add_option("--lr-decay-steps", o.lr_decay_steps);
  cmd.add_option("--weight-decay", o.weight_decay);
  cmd.add_option("--grad-clip", o.grad_clip, "max gradient norm (0: off)");
  cmd.add_option("--joined-fraction", o.joined_fraction, "share of training utterances joined from several takes")
      ->capture_default_str();
  cmd.add_option("--freq-masks", o.spec_augment.freq_masks, "SpecAugment frequency masks")->capture_default_str();
  cmd.add_option("--time-masks", o.spec_augment.time_masks, "SpecAugment time masks")->capture_default_str();
  cmd.add_option("--eval-interval", o.eval_interval)->capture_default_str();
  cmd.add_option("--log-interval", o.log_interval)->capture_default_str();
  examples::add_divergence_flags(cmd, o);
  cmd.add_option("--instrument-interval", o.instrument_interval,
                 "write precision instruments to <out-dir>/precision.jsonl every this many steps (0: off)");
  cmd.add_option("--out-dir", o.out_dir, "where checkpoints and metrics.jsonl go")->capture_default_str();
  cmd.add_flag("--resume", o.resume, "continue from <out-dir>/last.safetensors");
  cmd.add_flag("--skip-unreadable", o.skip_unreadable, "leave out (and report) audio files that cannot be read");
  cmd.add_option("--seed", o.seed);
  cmd.add_option("--threads", o.threads, "CPU threads (default: all)");
  cmd.add_option("--device", o.device, "where to train: cpu, cuda or cuda:N")->capture_default_str();
  examples::add_precision_flags(cmd, o);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mantissa ASR example: a CTC speech recogniser for spoken digits"};
  app.require_subcommand(1);

  std::string preset_name = "cpu";
  TrainOptions train_options = preset(preset_name);
  CLI::App* train_cmd = app.add_subcommand("train", "train a model");
  add_train_flags(*train_cmd, train_options, preset_name);
  // Presets are applied before the other flags so that flags override them.
  train_cmd->preparse_callback([&](size_t) {
    for (int i = 1; i + 1 < argc; ++i)
      if (std::string(argv[i]) == "--preset") train_options = preset(argv[i + 1]);
  });

  std::string checkpoint = "out-asr/best.safetensors", data, extra_data, lexicon_name;
  int beam_width = 8;
  int64_t batch_size = 32, examples_shown = 3;
  CLI::App* eval_cmd = app.add_subcommand("eval", "WER and CER of a checkpoint on every test set");
  eval_cmd->add_option("--checkpoint", checkpoint)->capture_default_str();
  eval_cmd->add_option("--data", data, "folder holding fsdd/recordings (default: the one it was trained on)");
  eval_cmd->add_option("--extra-data", extra_data, "scripts/asr_data.sh's folder (default: the one it was trained with)");
  eval_cmd->add_option("--beam-width", beam_width, "prefix beam search width (1: greedy)")->capture_default_str();
  eval_cmd->add_option("--lexicon", lexicon_name, "spell only these words: 'digits' or a file of one word per line");
  eval_cmd->add_option("--batch-size", batch_size)->capture_default_str();
  eval_cmd->add_option("--errors", examples_shown, "misrecognised utterances to show per test set")->capture_default_str();

  std::vector<std::string> files;
  CLI::App* transcribe_cmd = app.add_subcommand("transcribe", "print the words spoken in audio files");
  transcribe_cmd->add_option("--checkpoint", checkpoint)->capture_default_str();
  transcribe_cmd->add_option("--beam-width", beam_width, "prefix beam search width (1: greedy)")->capture_default_str();
  transcribe_cmd->add_option("--lexicon", lexicon_name, "spell only these words: 'digits' or a file of one word per line");
  transcribe_cmd->add_option("files", files, "WAV, FLAC or OGG files (any rate of 8 kHz or more)")->required();

  return examples::run_reporting_errors([&]() -> int {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    if (*train_cmd) {
      const TrainResult result = train(train_options, std::cout);
      return result.stopped_by_signal ? 128 + result.stopped_by_signal : 0;  // saved; the signal's status
    }
    const std::optional<Lexicon> lexicon = lexicon_name.empty() ? std::nullopt : std::optional(Lexicon::load(lexicon_name));
    const Lexicon* spelling = lexicon ? &*lexicon : nullptr;  // null: any spelling
    const TrainedModel trained = load_trained_model(checkpoint);
    const int rate = trained.model->frontend.options().sample_rate;
    if (*eval_cmd) {
      TrainOptions o = trained.record.options;
      if (!data.empty()) o.data = data;
      if (!extra_data.empty()) o.extra_data = extra_data;
      std::cout << fmt::format("{} (step {}, precision {}), {}{}\n", checkpoint, trained.record.state.step,
                               trained.plugin.mode().name,
                               beam_width > 1 || spelling ? fmt::format("prefix beam search, width {}", beam_width) : "greedy",
                               spelling ? fmt::format(", lexicon {} ({} words)", lexicon_name, spelling->size()) : "");
      std::cout << fmt::format("{:<18}{:>12}{:>8}{:>8}\n", "test set", "utterances", "WER %", "CER %");
      std::string errors;
      for (const TestSet& set : test_sets(o, rate, std::cout)) {
        const Transcripts t = transcribe(trained.model, trained.plugin, set.clips, batch_size, beam_width, spelling);
        std::cout << fmt::format("{:<18}{:>12}{:>8.2f}{:>8.2f}\n", set.name, set.clips.size(), 100 * t.errors.wer(),
                                 100 * t.errors.cer());
        int64_t shown = 0;
        for (size_t i = 0; i < set.clips.size() && shown < examples_shown; ++i)
          if (t.hypotheses[i] != set.clips[i].text && ++shown)
            errors += fmt::format("  {} {}: said \"{}\", heard \"{}\"\n", set.name, set.clips[i].source,
                                  set.clips[i].text, t.hypotheses[i]);
      }
      if (!errors.empty()) std::cout << "some errors:\n" << errors;
    } else {
      std::vector<Clip> clips;
      for (const std::string& file : files) clips.push_back({read_audio(file, rate), "", "", file});
      const Transcripts t = transcribe(trained.model, trained.plugin, clips, 1, beam_width, spelling);
      for (size_t i = 0; i < files.size(); ++i) std::cout << files[i] << ": " << t.hypotheses[i] << "\n";
    }
    return 0;
  });
}
