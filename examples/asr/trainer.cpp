#include "examples/asr/trainer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include <fmt/ranges.h>

#include "examples/asr/alphabet.h"
#include "examples/asr/ctc_decode.h"
#include "examples/common/data_dir.h"
#include <mantissa/core/threads.h>
#include <mantissa/precision/instrument_log.h>
#include <mantissa/train/train.h>

namespace mantissa::asr {

namespace fs = std::filesystem;

namespace {

// Fixed sets drawn from their own seeds, so every evaluation (and `asr eval`) sees the same ones.
constexpr uint64_t kDevJoinedSeed = 1801, kTestJoinedSeed = 1802, kAsteriskJoinedSeed = 1803;
constexpr int64_t kTestJoined = 200, kAsteriskJoined = 100;

fs::path fsdd_recordings(const TrainOptions& o) {
  return (o.data.empty() ? examples::default_data_dir() : fs::path(o.data)) / "fsdd" / "recordings";
}

// No decay for biases and norm weights (vectors), as the LLM example and NeMo's optimisers.
std::vector<optim::ParamGroupOptions> decay_groups(const AsrModel& model, double weight_decay) {
  optim::ParamGroupOptions decay{{}, std::nullopt, weight_decay}, no_decay{{}, std::nullopt, 0.0};
  for (const auto& [name, p] : model->named_parameters()) (p.dim() >= 2 ? decay : no_decay).params.push_back(p);
  return {decay, no_decay};
}

// The training data: single clips (FSDD's training takes and any espeak-ng training voices)
// and one-speaker joins of FSDD takes, mixed by joined_fraction.
class TrainingSource {
 public:
  TrainingSource(std::vector<Clip> singles, const std::vector<Clip>& fsdd_train, double joined_fraction, int sample_rate)
      : singles_(std::move(singles)), joiner_(fsdd_train, JoinOptions{.min_parts = 1}, sample_rate),
        joined_fraction_(joined_fraction) {}

  std::vector<Clip> draw(int64_t count, Generator& generator) const {
    std::vector<Clip> clips;
    for (int64_t i = 0; i < count; ++i) {
      const std::vector<double> u = uniforms(2, generator);
      clips.push_back(u[0] < joined_fraction_ ? joiner_.draw(generator) : singles_[pick(u[1], singles_.size())]);
    }
    return clips;
  }
  size_t singles() const { return singles_.size(); }

 private:
  std::vector<Clip> singles_;
  Joiner joiner_;
  double joined_fraction_;
};

// The batch sorted by length and cut into `count` groups of (nearly) equal size: each group is
// padded only to its own longest clip, which for joined utterances of 1 to 5 digits saves
// much of the work padding to the batch's longest would cost.
std::vector<std::vector<const Clip*>> length_groups(const std::vector<Clip>& clips, int64_t count) {
  std::vector<const Clip*> sorted;
  for (const Clip& c : clips) sorted.push_back(&c);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Clip* a, const Clip* b) { return a->samples.size() < b->samples.size(); });
  const size_t groups = static_cast<size_t>(std::min<int64_t>(count, static_cast<int64_t>(sorted.size())));
  std::vector<std::vector<const Clip*>> out(groups);
  for (size_t i = 0; i < sorted.size(); ++i) out[i * groups / sorted.size()].push_back(sorted[i]);
  return out;
}

// A clip the model cannot take (too short for one encoder frame, or more encoder frames than
// its position table holds) is an Error naming it, before it reaches a batch whose error could not.
void check_fits(const AsrModelImpl& model, const Clip& clip) {
  const auto samples = static_cast<int64_t>(clip.samples.size());
  const double rate = model.frontend.options().sample_rate;
  MANTISSA_CHECK(samples >= model.min_samples() && samples <= model.max_samples(), "asr",
                 "{}: {:.3f} s of audio; the model takes {:.1f} ms to {:.1f} s", clip.source,
                 static_cast<double>(samples) / rate, 1e3 * static_cast<double>(model.min_samples()) / rate,
                 static_cast<double>(model.max_samples()) / rate);
}

}  // namespace

AsrBatch make_batch(const std::vector<const Clip*>& clips) {
  MANTISSA_CHECK(!clips.empty(), "make_batch", "an empty batch");
  const int64_t B = static_cast<int64_t>(clips.size());
  size_t samples = 0, labels = 1;
  std::vector<std::vector<int64_t>> targets;
  for (const Clip* c : clips) {
    samples = std::max(samples, c->samples.size());
    targets.push_back(encode_transcript(c->text));
    labels = std::max(labels, targets.back().size());
  }
  std::vector<float> audio(static_cast<size_t>(B) * samples, 0.0f);
  std::vector<int64_t> audio_lengths, padded(static_cast<size_t>(B) * labels, kBlank), target_lengths;
  for (size_t b = 0; b < clips.size(); ++b) {
    std::copy(clips[b]->samples.begin(), clips[b]->samples.end(), audio.begin() + static_cast<std::ptrdiff_t>(b * samples));
    std::copy(targets[b].begin(), targets[b].end(), padded.begin() + static_cast<std::ptrdiff_t>(b * labels));
    audio_lengths.push_back(static_cast<int64_t>(clips[b]->samples.size()));
    target_lengths.push_back(static_cast<int64_t>(targets[b].size()));
  }
  return {{{"audio_signal", from_vector(audio, {B, static_cast<int64_t>(samples)})},
           {"audio_lengths", from_vector(audio_lengths, {B})}},
          from_vector(padded, {B, static_cast<int64_t>(labels)}),
          from_vector(target_lengths, {B})};
}

Transcripts transcribe(const AsrModel& model, const precision::PrecisionPlugin& plugin, const std::vector<Clip>& clips,
                       int64_t batch_size, int beam_width, const Lexicon* lexicon) {
  MANTISSA_CHECK(batch_size > 0 && beam_width >= 1, "transcribe", "needs a batch size and beam width of at least 1, got {} and {}",
                 batch_size, beam_width);
  for (const Clip& clip : clips) check_fits(*model, clip);
  NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  // Batches of similar lengths waste little on padding; the results go back in input order.
  std::vector<size_t> order(clips.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return clips[a].samples.size() < clips[b].samples.size(); });
  Transcripts result;
  result.hypotheses.resize(clips.size());
  for (size_t first = 0; first < order.size(); first += static_cast<size_t>(batch_size)) {
    std::vector<const Clip*> batch;
    for (size_t i = first; i < std::min(order.size(), first + static_cast<size_t>(batch_size)); ++i)
      batch.push_back(&clips[order[i]]);
    AsrOutput output;
    {
      const auto region = plugin.forward_context();
      output = model->forward(plugin.convert_input(make_batch(batch).inputs));
    }
    const Tensor log_probs = output.log_probs.contiguous().to(Device::cpu());  // (T', B, C)
    const std::vector<float> values = log_probs.to_vector<float>();
    const std::vector<int64_t> lengths = output.lengths.to_vector<int64_t>();
    const int64_t B = log_probs.size(1), C = log_probs.size(2);
    for (int64_t b = 0; b < B; ++b) {
      const float* start = values.data() + b * C;
      const int64_t frames = lengths[static_cast<size_t>(b)];
      const std::vector<int64_t> labels = beam_width == 1 && !lexicon
                                              ? greedy_decode(start, frames, C, B * C)
                                              : beam_decode(start, frames, C, B * C, beam_width, lexicon);
      result.hypotheses[order[first + static_cast<size_t>(b)]] = decode_labels(labels);
    }
  }
  for (size_t i = 0; i < clips.size(); ++i) result.errors.add(clips[i].text, result.hypotheses[i]);
  model->train(was_training);
  return result;
}

std::vector<TestSet> test_sets(const TrainOptions& o, int rate, std::ostream& notes) {
  std::vector<TestSet> sets;
  std::vector<Clip> fsdd_test = load_fsdd(fsdd_recordings(o), FsddSplit::test, rate, o.skip_unreadable, notes);
  const Joiner fsdd_joiner(fsdd_test, JoinOptions{}, rate);
  sets.push_back({"fsdd-joined", fsdd_joiner.fixed_set(kTestJoined, kTestJoinedSeed)});
  sets.insert(sets.begin(), {"fsdd-single", std::move(fsdd_test)});
  const fs::path extra(o.extra_data);
  if (const fs::path espeak = extra / "espeak" / "test" / "manifest.jsonl"; fs::exists(espeak))
    sets.push_back({"espeak", load_manifest(espeak, rate, o.skip_unreadable, notes)});
  else
    notes << "note: no espeak-ng test set (" << espeak.string() << " is absent: scripts/asr_data.sh makes it)\n";
  if (const fs::path asterisk = extra / "asterisk" / "manifest.jsonl"; fs::exists(asterisk)) {
    std::vector<Clip> prompts = load_manifest(asterisk, rate, o.skip_unreadable, notes);
    sets.push_back({"asterisk-joined", Joiner(prompts, JoinOptions{}, rate).fixed_set(kAsteriskJoined, kAsteriskJoinedSeed)});
    sets.push_back({"asterisk-single", std::move(prompts)});
  } else {
    notes << "note: no asterisk test set (" << asterisk.string() << " is absent: scripts/asr_data.sh makes it)\n";
  }
  return sets;
}

TrainedModel load_trained_model(const std::string& checkpoint_path) {
  RunRecord record = read_run_record(checkpoint_path);
  TrainedModel trained{AsrModel(record.options.model), record.options.make_plugin(record.options.seed + 3), record};
  trained.plugin.convert_module(*trained.model);
  training::Checkpoint(*trained.model).set_plugin(trained.plugin).load(checkpoint_path);
  return trained;
}

TrainResult train(const TrainOptions& options, std::ostream& out) {
  options.validate();
  TrainOptions o = options;
  precision::PrecisionPlugin plugin = o.make_plugin(o.seed + 3, &out);
  if (o.threads > 0) set_num_threads(o.threads);
  const Device device = parse_device(o.device);
  const training::RunDir run(o.out_dir);
  const training::RunLock lock(run);  // one trainer per folder
  for (const std::string& name : lock.removed_temporaries())
    out << fmt::format("removed {}, a temporary file of an interrupted save\n", run.file(name));
  const std::string last_path = run.last_checkpoint();
  std::optional<RunRecord> resumed;
  if (o.resume) {
    resumed = read_run_record(last_path);
    // The run the checkpoint holds goes on with its own options (training::resume_conflicts).
    const std::vector<std::string> conflicts =
        training::resume_conflicts(resumed->options_json, o.to_json(),
                                   {"steps", "eval_interval", "device", "on_non_finite"});
    MANTISSA_CHECK(conflicts.empty(), "asr train",
                   "--resume from {}: {} differ from the run's; resume with the options it was started with "
                   "(only --steps, --eval-interval, --device and --on-non-finite may change)",
                   last_path, fmt::join(conflicts, ", "));
  }

  manual_seed(o.seed);
  AsrModel model(o.model);
  model->spec_augment = o.spec_augment;
  const int rate = model->frontend.options().sample_rate;
  const fs::path recordings = fsdd_recordings(o);
  const std::vector<Clip> fsdd_train = load_fsdd(recordings, FsddSplit::train, rate, o.skip_unreadable, out);
  std::vector<Clip> dev_single = load_fsdd(recordings, FsddSplit::dev, rate, o.skip_unreadable, out);
  const std::vector<Clip> dev_joined = Joiner(dev_single, JoinOptions{}, rate).fixed_set(o.dev_joined, kDevJoinedSeed);
  std::vector<Clip> singles = fsdd_train;
  std::string espeak_note = "no espeak-ng voices (scripts/asr_data.sh makes them)";
  if (const fs::path espeak = fs::path(o.extra_data) / "espeak" / "train" / "manifest.jsonl"; fs::exists(espeak)) {
    const std::vector<Clip> voices = load_manifest(espeak, rate, o.skip_unreadable, out);
    singles.insert(singles.end(), voices.begin(), voices.end());
    espeak_note = fmt::format("{} espeak-ng utterances", voices.size());
  }
  for (const std::vector<Clip>* set : {&singles, &dev_single})
    for (const Clip& clip : *set) check_fits(*model, clip);
  const TrainingSource source(std::move(singles), fsdd_train, o.joined_fraction, rate);

  model->to(device);
  plugin.convert_module(*model);
  const std::unique_ptr<optim::Optimizer> optimizer = plugin.make_adamw(
      decay_groups(model, o.weight_decay),
      optim::AdamOptions(o.lr).with_betas(o.beta1, o.beta2).with_weight_decay(o.weight_decay));
  const optim::WarmupCosineLr schedule(o.warmup_steps, o.lr_decay_steps, o.min_lr / o.lr);
  Generator data_generator(o.seed + 1), augment_generator(o.seed + 2);
  training::Checkpoint checkpoint(*model);
  checkpoint.add_optimizer("optim", *optimizer)
      .set_plugin(plugin)
      .add_random_stream("dropout", default_generator())
      .add_random_stream("data", data_generator)
      .add_random_stream("augment", augment_generator);
  plugin.set_parameter_names(checkpoint.parameter_names(), optimizer.get());
  TrainingState state;
  if (resumed) {
    checkpoint.load(last_path);
    state = resumed->state;
  }

  TrainResult result;
  result.parameters = model->parameter_count();
  out << fmt::format("model: {} parameters ({} layers, {} heads, {} wide, ffn {}), {} threads, precision {}, device {}\n"
                     "data: {} FSDD training takes + {} joined, {}; dev: {} takes + {} joined\n",
                     result.parameters, o.model.n_layer, o.model.n_head, o.model.d_model, o.model.d_ff, num_threads(),
                     plugin.mode().name, device.str(), fsdd_train.size(),
                     o.joined_fraction > 0 ? fmt::format("{:.0f}%", 100 * o.joined_fraction) : "none",
                     espeak_note, dev_single.size(), dev_joined.size());
  if (resumed) out << fmt::format("resumed from {} at step {}\n", last_path, state.step);
  training::MetricsLog metrics(run.metrics());
  precision::InstrumentLog instruments(run.file("precision.jsonl"), checkpoint.parameter_names().named_parameters(),
                                       o.instrument_interval);
  auto save = [&](const std::string& path) { checkpoint.save(path, to_metadata(o, state)); };
  auto eval_and_save = [&](int64_t step) {
    const Transcripts single = transcribe(model, plugin, dev_single, o.batch_size, 1);
    const Transcripts joined = transcribe(model, plugin, dev_joined, o.batch_size, 1);
    const int64_t words = single.errors.words() + joined.errors.words();
    const double wer = static_cast<double>(single.errors.word_edits() + joined.errors.word_edits()) /
                       static_cast<double>(std::max<int64_t>(1, words));
    result.final_dev_wer = wer;
    out << fmt::format("step {}: dev WER {:.2f}% (single {:.2f}%, joined {:.2f}%), CER single {:.2f}% joined {:.2f}%\n",
                       step, 100 * wer, 100 * single.errors.wer(), 100 * joined.errors.wer(), 100 * single.errors.cer(),
                       100 * joined.errors.cer())
        << std::flush;
    metrics.write({{"step", step}, {"dev_wer", wer}, {"dev_single_wer", single.errors.wer()},
                   {"dev_joined_wer", joined.errors.wer()}, {"dev_single_cer", single.errors.cer()},
                   {"dev_joined_cer", joined.errors.cer()}});
    state.step = step;
    if (wer < state.best_dev_wer) {
      state.best_dev_wer = wer;
      save(run.best_checkpoint());
    }
    save(last_path);
  };

  const int64_t first_step = state.step;
  const training::Progress progress(first_step, o.steps, static_cast<double>(o.batch_size), "utt");
  const training::StopSignals stop_signals;
  std::optional<DetectAnomalyGuard> anomaly;
  if (o.detect_anomaly) anomaly.emplace();
  for (int64_t step = first_step; step < o.steps; ++step) {
    if (step % o.eval_interval == 0 && step > 0 && !(resumed && step == first_step)) eval_and_save(step);
    optim::set_lr(*optimizer, schedule, step);
    const std::vector<Clip> clips = source.draw(o.batch_size, data_generator);
    const std::vector<std::vector<const Clip*>> groups = length_groups(clips, o.length_groups);  // points into clips
    const bool instrumented = instruments.due(step);
    if (plugin.fp8()) plugin.fp8()->observe_block_scales(instrumented);  // for record_fp8's block statistics
    optimizer->zero_grad();
    double step_loss = 0.0;
    for (size_t g = 0; g < groups.size(); ++g) {
      const AsrBatch batch = make_batch(groups[g]);
      Tensor loss;
      {
        const auto region = plugin.forward_context();
        loss = model->loss(model->forward(plugin.convert_input(batch.inputs), &augment_generator), batch.targets,
                           batch.target_lengths);
      }
      // Each group's mean, weighted by its share of the batch: the gradient of the batch's mean.
      loss = (static_cast<double>(groups[g].size()) / static_cast<double>(o.batch_size)) * loss;
      if (instrumented && g + 1 == groups.size()) instruments.record_memory(step, *optimizer);
      plugin.backward(loss);
      step_loss += loss.item();
    }
    // A non-finite loss: the run diverged; stop before this update (the checkpoints untouched),
    // or skip the update when asked.
    const bool finite_loss = std::isfinite(step_loss);
    if (std::isnan(step_loss)) step_loss = std::numeric_limits<double>::quiet_NaN();  // "nan", not "-nan"
    MANTISSA_CHECK(finite_loss || o.on_non_finite == "skip", "asr train",
                   "step {}: the loss is {}, so the run diverged; stopped before that step's update. {}, or pass "
                   "--on-non-finite skip to skip such steps", step + 1, step_loss,
                   state.step > 0 ? fmt::format("{} holds step {}: resume from it (--resume) with a lower --lr",
                                                last_path, state.step)
                                  : std::string("No checkpoint was written yet"));
    if (instrumented) {
      instruments.record_gradients(step, plugin.scaler() ? plugin.scaler()->get_scale() : 1.0);
      instruments.before_step(*optimizer);
    }
    const bool stepped = finite_loss && plugin.optimizer_step(*optimizer, o.grad_clip > 0.0 ? std::optional(o.grad_clip)
                                                                                         : std::nullopt);
    if (instrumented) {
      instruments.after_step(step, *optimizer, stepped);
      if (plugin.fp8()) instruments.record_fp8(step, *plugin.fp8());
    }
    result.losses.push_back(step_loss);
    if (!stepped) {
      result.skipped_steps.push_back(step);
      ++state.skipped_steps;
      if (!finite_loss) {
        out << fmt::format("step {}: skipped, the loss is {}\n", step + 1, step_loss);
        metrics.write({{"step", step + 1}, {"skipped", true}, {"non_finite_loss", true}});
      } else {
        const auto& skip = plugin.scaler()->last_skipped();
        out << fmt::format("step {}: skipped, non-finite gradient in {} at loss scale {}; scale now {}\n", step + 1,
                           skip->first_non_finite, skip->scale, plugin.scaler()->get_scale());
        metrics.write({{"step", step + 1}, {"skipped", true}, {"first_non_finite", skip->first_non_finite},
                       {"loss_scale", plugin.scaler()->get_scale()}});
      }
    }
    if ((step + 1) % o.log_interval == 0 || step + 1 == o.steps) {
      const double lr = optimizer->param_groups()[0].lr;
      out << progress.line(step + 1, fmt::format("loss {:.4f} | lr {:.2e}", result.losses.back(), lr)) << "\n"
          << std::flush;
      training::MetricsLine line{{"step", step + 1}, {"loss", result.losses.back()}, {"lr", lr},
                                 {"utterances_per_s", progress.units_per_second(step + 1)},
                                 {"ms_per_step", progress.ms_per_step(step + 1)}};
      if (plugin.scaler()) line.emplace_back("loss_scale", plugin.scaler()->get_scale());
      metrics.write(line);
    }
    if (stop_signals.received() && step + 1 < o.steps) {  // SIGINT or SIGTERM: save and go
      state.step = step + 1;
      save(last_path);
      result.stopped_by_signal = stop_signals.received();
      out << fmt::format("stopped by {} after step {}; {} holds it: run the same command with --resume to go on\n",
                         training::StopSignals::name(result.stopped_by_signal), step + 1, last_path)
          << std::flush;
      return result;
    }
  }
  if (first_step >= o.steps && resumed) {
    out << fmt::format("nothing to do: already at step {} of {}\n", first_step, o.steps);
    return result;
  }
  eval_and_save(o.steps);
  result.best_dev_wer = state.best_dev_wer;
  result.seconds = progress.elapsed_seconds();
  out << fmt::format("done: {} steps in {} ({:.0f} ms/step), dev WER {:.2f}% (best {:.2f}%); checkpoints in {}\n",
                     o.steps - first_step, training::format_duration(result.seconds),
                     1000.0 * result.seconds / static_cast<double>(std::max<int64_t>(1, o.steps - first_step)),
                     100 * result.final_dev_wer, 100 * result.best_dev_wer, o.out_dir);
  return result;
}

}  // namespace mantissa::asr
