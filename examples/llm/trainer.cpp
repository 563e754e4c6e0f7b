#include "examples/llm/trainer.h"

#include <cmath>
#include <csignal>
#include <filesystem>
#include <limits>
#include <set>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "examples/common/json_numbers.h"
#include "examples/llm/checkpoint.h"
#include "examples/llm/data.h"
#include <mantissa/core/ops.h>
#include <mantissa/core/threads.h>
#include <mantissa/distributed/distributed.h>
#include <mantissa/precision/instrument_log.h>
#include <mantissa/precision/plugin.h>
#include <mantissa/train/train.h>

namespace mantissa::llm {

namespace {

// TrainOptions::schedule_clock's values.
constexpr const char* kIterations = "iterations";
constexpr const char* kOptimizerSteps = "optimizer-steps";
// TrainOptions::on_non_finite's value that skips the step (the other, "stop", ends the run).
constexpr const char* kSkip = "skip";

// nanoGPT's grouping: matrices (embeddings included) decay, biases and norm weights don't.
std::vector<optim::ParamGroupOptions> decay_groups(const GPT& model, double weight_decay) {
  optim::ParamGroupOptions decay{{}, std::nullopt, weight_decay}, no_decay{{}, std::nullopt, 0.0};
  for (const auto& [name, p] : model->named_parameters()) (p.dim() >= 2 ? decay : no_decay).params.push_back(p);
  return {decay, no_decay};
}

// Mean loss over eval_iters batches of the global batch's size from a freshly seeded stream,
// so every evaluation sees the same windows, whatever the world size, and training's random
// streams are untouched. It runs in the training precision, as Lightning's validation does.
// Every rank evaluates every batch, so they run the same forwards (with fp8's reduce_amax each
// forward region ends in an amax all-reduce, which every rank must join).
double evaluate(const GPT& model, const precision::PrecisionPlugin& plugin, const std::vector<int32_t>& data,
                const TrainOptions& o, Device device) {
  NoGradGuard no_grad;
  model->eval();
  Generator generator(o.seed + 2);
  double total = 0.0;
  for (int64_t i = 0; i < o.eval_iters; ++i) {
    const Batch b = sample_batch(data, o.global_batch(), o.model.block_size, generator, device);
    const auto region = plugin.forward_context();
    total += model->loss(b.x, b.y).item();
  }
  model->train();
  return total / static_cast<double>(o.eval_iters);
}

// What ZeRO's parameter all-gather adds to the gradients' bytes on the wire.
int64_t parameter_gather_bytes(const optim::Optimizer& optimizer) {
  const auto* sharded = dynamic_cast<const distributed::ShardedOptimizer*>(&optimizer);
  return sharded ? sharded->wire_bytes_per_step() : 0;
}

// --resume continues the run its checkpoint holds (training::resume_conflicts). How long and
// how verbosely to go on may change, and the split of the global batch over ranks,
// micro-batches and the wire (a ZeRO run may go on at world size 1), as long as the global
// batch stays.
void check_resume_matches(const std::string& path, const std::string& saved_json, const TrainOptions& o) {
  static const std::set<std::string> may_change = {"steps", "eval_interval", "eval_iters", "instrument_interval",
                                                   "device", "on_non_finite", "batch_size", "grad_accum",
                                                   "world_size", "grad_comm", "bucket_cap_mb", "zero"};
  std::vector<std::string> conflicts = training::resume_conflicts(saved_json, o.to_json(), may_change);
  const nlohmann::json saved = nlohmann::json::parse(saved_json);
  const int64_t saved_global = examples::json_integer_or(saved, "batch_size", int64_t{0}) *
                               examples::json_integer_or(saved, "grad_accum", int64_t{1}) *
                               examples::json_integer_or(saved, "world_size", int64_t{1});
  if (saved_global != o.global_batch())
    conflicts.push_back(fmt::format("a global batch of {} sequences (the run's: {})", o.global_batch(), saved_global));
  MANTISSA_CHECK(conflicts.empty(), "llm train",
                 "--resume from {}: {} differ from the run's; resume with the options it was started with "
                 "(only --steps, the intervals, --device and how the batch splits over ranks may change)",
                 path, fmt::join(conflicts, ", "));
}

}  // namespace

TrainResult train(const TrainOptions& options, std::ostream& out) {
  options.validate();
  precision::PrecisionPlugin plugin = options.make_plugin(options.seed + 3, &out);
  if (options.threads > 0) set_num_threads(options.threads);
  TrainOptions o = options;
  MANTISSA_CHECK(o.schedule_clock == kIterations || o.schedule_clock == kOptimizerSteps, "llm train",
                 "--schedule-clock must be {} or {}, got '{}'", kIterations, kOptimizerSteps, o.schedule_clock);
  const Device device = parse_device(o.device);
  const auto data_path = resolve_data_path(o.data, "tinyshakespeare/input.txt");
  const std::string text = read_text_file(data_path);
  const std::filesystem::path bpe_dir = o.bpe_dir.empty() ? default_data_dir() / "gpt2-bpe" : std::filesystem::path(o.bpe_dir);
  const distributed::GradComm grad_comm = distributed::GradComm::parse(o.grad_comm);
  // Under mpirun every rank trains on its share of each batch; rank 0 alone writes files.
  distributed::ProcessGroup& group = distributed::world();
  const int world = group.size(), rank = group.rank();
  const bool lead = rank == 0;
  o.world_size = world;
  const training::RunDir run(o.out_dir);
  const std::string last_path = run.last_checkpoint();
  std::optional<training::RunLock> lock;  // the writer's: one trainer per folder
  if (lead) lock.emplace(run);

  // The record first: the model is built from the configuration it holds.
  std::optional<RunRecord> resumed;
  if (o.resume) resumed = read_run_record(last_path);
  const Tokenizer tokenizer = resumed ? Tokenizer::from_json(resumed->tokenizer_json, bpe_dir)
                              : o.tokenizer == "gpt2" ? Tokenizer::gpt2(bpe_dir)
                                                      : Tokenizer::characters_of(text);
  const TokenSplits splits = encode_splits(text, tokenizer);
  o.model.vocab_size = tokenizer.vocab_size();
  if (resumed) check_resume_matches(last_path, resumed->options_json, o);

  manual_seed(o.seed);
  GPT model(o.model);  // initialised on the host from the seed, so every device starts alike
  // Each rank's dropout masks come from a stream of its own (rank 0's is the one-process one).
  auto seed_dropout = [&](int64_t step) {
    if (rank > 0) manual_seed(o.seed + 1000003ull * static_cast<uint64_t>(rank) + static_cast<uint64_t>(step));
  };
  seed_dropout(0);
  model->to(device);
  plugin.convert_module(*model);
  // Gradients pass through the wire format whenever it is not f32, even in a world of one
  // (to study its effect on one process); f32 needs the all-reduce only with several ranks.
  std::optional<distributed::DataParallel> ddp;
  if (world > 1 || grad_comm.wire != DType::f32 || o.zero)
    ddp.emplace(*model, group, distributed::DataParallelOptions{.bucket_cap_mb = o.bucket_cap_mb, .comm = grad_comm});
  if (world > 1) plugin.set_process_group(group);
  const optim::AdamOptions adam = optim::AdamOptions(o.lr).with_betas(o.beta1, o.beta2).with_weight_decay(o.weight_decay);
  auto make_adamw = [&](std::vector<optim::ParamGroupOptions> groups) { return plugin.make_adamw(std::move(groups), adam); };
  const std::unique_ptr<optim::Optimizer> optimizer_owner =
      o.zero ? std::unique_ptr<optim::Optimizer>(
                   std::make_unique<distributed::ShardedOptimizer>(decay_groups(model, o.weight_decay), *ddp, make_adamw))
             : make_adamw(decay_groups(model, o.weight_decay));
  optim::Optimizer& optimizer = *optimizer_owner;
  if (o.zero) plugin.configure_codecs(optimizer);  // where the owners' fp8 scales go
  const optim::WarmupCosineLr schedule(o.warmup_steps, o.lr_decay_steps, o.min_lr / o.lr);
  Generator data_generator(o.seed + 1);
  training::Checkpoint checkpoint(*model);
  checkpoint.add_optimizer("optim", optimizer)
      .set_plugin(plugin)
      .add_random_stream("dropout", default_generator())
      .add_random_stream("data", data_generator);
  plugin.set_parameter_names(checkpoint.parameter_names(), &optimizer);
  TrainingState state;
  state.best_val_loss = std::numeric_limits<double>::infinity();
  if (resumed) {
    checkpoint.load(last_path);
    state = resumed->state;
    seed_dropout(state.step);  // the checkpoint holds rank 0's stream
  }

  TrainResult result;
  result.parameters = model->num_parameters();
  out << fmt::format("model: {} parameters ({} layers, {} heads, {} wide, block {}), vocab {} ({}), "
                     "{} train / {} val tokens, {} threads, precision {}, device {}\n",
                     result.parameters, o.model.n_layer, o.model.n_head, o.model.n_embd, o.model.block_size,
                     o.model.vocab_size, tokenizer.kind(), splits.train.size(), splits.val.size(), num_threads(),
                     plugin.mode().name, device.str());
  if (ddp) {
    const int64_t gather_bytes = parameter_gather_bytes(optimizer);
    out << fmt::format("data parallel: {} rank(s), {}; gradients in {} ({} buckets), {} bytes sent per rank and "
                       "step{}, global batch {} = {} per rank x {} micro-batch(es); optimizer {}\n",
                       world, group.describe(), grad_comm.name(), ddp->bucket_layout().size(),
                       ddp->wire_bytes_per_step() + gather_bytes,
                       gather_bytes > 0 ? fmt::format(" ({} of them ZeRO's parameter all-gather)", gather_bytes) : "",
                       o.batch_size * world * o.grad_accum, o.batch_size, o.grad_accum, optimizer.name());
  }
  if (resumed) out << fmt::format("resumed from {} at step {}\n", last_path, state.step);
  if (lock && !lock->removed_temporaries().empty())
    out << fmt::format("removed {} temporary file(s) of interrupted saves from {}: {}\n",
                       lock->removed_temporaries().size(), o.out_dir, fmt::join(lock->removed_temporaries(), ", "));

  std::optional<training::MetricsLog> metrics_log;
  if (lead) metrics_log.emplace(run.metrics());
  auto log = [&](const training::MetricsLine& line) {
    if (metrics_log) metrics_log->write(line);
  };
  precision::InstrumentLog instruments(run.file("precision.jsonl"), checkpoint.parameter_names().named_parameters(),
                                       lead ? o.instrument_interval : 0);
  auto save = [&](const std::string& path) {
    if (lead) checkpoint.save(path, to_metadata({o.model, tokenizer.to_json(), o.to_json(), state}));
    else if (o.zero) optimizer.state_dict();  // every rank takes part in gathering the shards
  };
  auto eval_and_save = [&](int64_t step) {
    double train_loss = evaluate(model, plugin, splits.train, o, device);
    double val_loss = evaluate(model, plugin, splits.val, o, device);
    if (world > 1) {  // rank 0's figures decide for all (a best checkpoint may be a collective save)
      Tensor losses = from_vector(std::vector<double>{train_loss, val_loss}, {2});
      group.broadcast(losses, 0);
      train_loss = losses.to_vector<double>()[0];
      val_loss = losses.to_vector<double>()[1];
    }
    result.final_val_loss = val_loss;
    out << fmt::format("step {}: train loss {:.4f}, val loss {:.4f}\n", step, train_loss, val_loss) << std::flush;
    log({{"step", step}, {"train_loss", train_loss}, {"val_loss", val_loss}});
    state.step = step;
    if (val_loss < state.best_val_loss) {
      state.best_val_loss = val_loss;
      save(run.best_checkpoint());
    }
    save(last_path);
  };

  // The global batch is drawn once from the data stream (the same on every rank) and sliced:
  // micro-batch m of rank r is rows [(m * world + r) * batch_size, ... + batch_size). So 2 ranks
  // x batch 6 see the windows 1 rank x batch 12 sees.
  const int64_t global_batch = o.global_batch();
  const int64_t tokens_per_step = global_batch * o.model.block_size;
  const int64_t first_step = state.step;
  const training::Progress progress(first_step, o.steps, static_cast<double>(tokens_per_step), "tok");
  const training::StopSignals stop_signals;
  std::optional<DetectAnomalyGuard> anomaly;
  if (o.detect_anomaly) anomaly.emplace();
  for (int64_t step = first_step; step < o.steps; ++step) {
    if (step % o.eval_interval == 0 && !(resumed && step == first_step)) eval_and_save(step);
    optim::set_lr(optimizer, schedule, o.schedule_clock == kIterations ? step : step - state.skipped_steps);
    const Batch batch = sample_batch(splits.train, global_batch, o.model.block_size, data_generator, device);
    const bool instrumented = instruments.due(step);
    if (plugin.fp8()) plugin.fp8()->observe_block_scales(instrumented);  // for record_fp8's block statistics
    optimizer.zero_grad();
    double step_loss = 0.0;  // this rank's mean over its micro-batches
    for (int64_t m = 0; m < o.grad_accum; ++m) {
      const int64_t first_row = (m * world + rank) * o.batch_size;
      Tensor loss;
      {
        const auto region = plugin.forward_context();
        loss = model->loss(batch.x.narrow(0, first_row, o.batch_size), batch.y.narrow(0, first_row, o.batch_size));
      }
      if (o.grad_accum > 1) loss = (1.0 / static_cast<double>(o.grad_accum)) * loss;
      if (instrumented && m + 1 == o.grad_accum) instruments.record_memory(step, optimizer);
      // All but the last micro-batch only accumulate; the last one's backward averages the sum.
      std::optional<distributed::DataParallel::NoSync> accumulate;
      if (ddp && m + 1 < o.grad_accum) accumulate.emplace(*ddp);
      plugin.backward(loss);
      step_loss += loss.item();
    }
    if (ddp) ddp->finish_gradient_synchronization();  // a no-op once backward has finished it
    if (instrumented) {
      instruments.record_gradients(step, plugin.scaler() ? plugin.scaler()->get_scale() : 1.0);
      instruments.before_step(optimizer);
    }
    // A SIGINT or SIGTERM ends the run after this step, on every rank if any rank got one.
    bool stop_after_step = stop_signals.received() != 0;
    if (world > 1) {  // the global batch's mean loss (for the log, and one divergence verdict) and the stop
      Tensor shared = from_vector(std::vector<double>{step_loss, stop_after_step ? 1.0 : 0.0}, {2});
      group.all_reduce(shared, distributed::ReduceOp::avg);
      step_loss = shared.to_vector<double>()[0];
      stop_after_step = shared.to_vector<double>()[1] > 0.0;
    }
    // A non-finite loss means the run diverged (a forward overflow, or weights already ruined):
    // stop before this update, or skip it when asked. The checkpoints on disk stay as they are.
    const bool finite_loss = std::isfinite(step_loss);
    if (std::isnan(step_loss)) step_loss = std::numeric_limits<double>::quiet_NaN();  // "nan", not "-nan", in messages
    MANTISSA_CHECK(finite_loss || o.on_non_finite == kSkip, "llm train",
                   "step {}: the loss is {}, so the run diverged; stopped before that step's update. {} holds step "
                   "{}: resume from it (--resume) with a lower --lr, or pass --on-non-finite skip to skip such steps",
                   step + 1, step_loss, last_path, state.step);
    const bool stepped =
        finite_loss && plugin.optimizer_step(optimizer, o.grad_clip > 0.0 ? std::optional(o.grad_clip) : std::nullopt);
    if (instrumented) {
      instruments.after_step(step, optimizer, stepped);
      if (plugin.fp8()) instruments.record_fp8(step, *plugin.fp8());
    }
    result.losses.push_back(step_loss);
    result.lrs.push_back(optimizer.param_groups()[0].lr);
    if (!stepped) {
      result.skipped_steps.push_back(step);
      ++state.skipped_steps;
      if (!finite_loss) {
        out << fmt::format("step {}: skipped, the loss is {}\n", step + 1, step_loss);
        log({{"step", step + 1}, {"skipped", true}, {"non_finite_loss", true}});
      } else {
        const auto& skip = plugin.scaler()->last_skipped();
        out << fmt::format("step {}: skipped, non-finite gradient in {} at loss scale {}; scale now {}\n", step + 1,
                           skip->first_non_finite, skip->scale, plugin.scaler()->get_scale());
        log({{"step", step + 1}, {"skipped", true}, {"first_non_finite", skip->first_non_finite},
             {"loss_scale", plugin.scaler()->get_scale()}});
      }
    }

    if ((step + 1) % o.log_interval == 0 || step + 1 == o.steps) {
      const double lr = optimizer.param_groups()[0].lr;
      out << progress.line(step + 1, fmt::format("loss {:.4f} | lr {:.2e}", result.losses.back(), lr)) << "\n"
          << std::flush;
      training::MetricsLine line{{"step", step + 1}, {"loss", result.losses.back()}, {"lr", lr},
                              {"tokens_per_s", progress.units_per_second(step + 1)},
                              {"ms_per_step", progress.ms_per_step(step + 1)}};
      if (plugin.scaler()) line.emplace_back("loss_scale", plugin.scaler()->get_scale());
      log(line);
    }
    if (stop_after_step && step + 1 < o.steps) {
      state.step = step + 1;
      save(last_path);
      // The other ranks leave only once rank 0 has saved: mpirun ends the whole job as soon as
      // one rank exits with a signal's status, which would cut a long save short.
      if (world > 1) group.barrier();
      result.stopped_by_signal = stop_signals.received() ? stop_signals.received() : SIGTERM;
      out << fmt::format("stopped by {} after step {}; {} holds it: run the same command with --resume to go on\n",
                         training::StopSignals::name(result.stopped_by_signal), step + 1, last_path)
          << std::flush;
      return result;
    }
  }
  if (first_step >= o.steps) {
    out << fmt::format("nothing to do: already at step {} of {}\n", first_step, o.steps);
    return result;
  }
  eval_and_save(o.steps);
  result.best_val_loss = state.best_val_loss;
  result.seconds = progress.elapsed_seconds();
  out << fmt::format("done: {} steps in {} ({:.0f} ms/step), val loss {:.4f} (best {:.4f}); checkpoints in {}\n",
                     o.steps - first_step, training::format_duration(result.seconds),
                     1000.0 * result.seconds / static_cast<double>(std::max<int64_t>(1, o.steps - first_step)),
                     result.final_val_loss, result.best_val_loss, o.out_dir);
  return result;
}

TrainedModel load_trained_model(const std::string& checkpoint_path, const RunRecord& c, Device device) {
  TrainOptions o;
  try {
    const nlohmann::json saved = nlohmann::json::parse(c.options_json);
    o.data = saved.at("data").get<std::string>();
    o.batch_size = examples::json_integer<int64_t>(saved.at("batch_size"), "batch_size");
    o.grad_accum = examples::json_integer_or(saved, "grad_accum", o.grad_accum);
    o.world_size = examples::json_integer_or(saved, "world_size", o.world_size);
    o.seed = examples::json_integer<uint64_t>(saved.at("seed"), "seed");
    static_cast<training::PrecisionSettings&>(o) = training::PrecisionSettings::from_json(c.options_json);
  } catch (const nlohmann::json::exception& e) {
    fail("load_trained_model", "{}: unreadable training options: {}", checkpoint_path, e.what());
  } catch (const Error& e) {
    fail("load_trained_model", "{}: {}", checkpoint_path, e.what());
  }
  o.model = c.config;
  o.device = device.str();
  TrainedModel trained{GPT(c.config), o.make_plugin(o.seed + 3), o};
  trained.model->to(device);
  trained.plugin.convert_module(*trained.model);
  training::Checkpoint(*trained.model).set_plugin(trained.plugin).load(checkpoint_path);
  return trained;
}

EvalResult evaluate_checkpoint(const std::string& checkpoint_path, const std::string& data, int64_t eval_iters,
                               Device device) {
  const RunRecord c = read_run_record(checkpoint_path);
  TrainedModel trained = load_trained_model(checkpoint_path, c, device);
  TrainOptions& o = trained.options;
  if (!data.empty()) o.data = data;
  o.eval_iters = eval_iters;
  const std::string text = read_text_file(resolve_data_path(o.data, "tinyshakespeare/input.txt"));
  const TokenSplits splits = encode_splits(text, Tokenizer::from_json(c.tokenizer_json, default_data_dir() / "gpt2-bpe"));
  return {evaluate(trained.model, trained.plugin, splits.train, o, device),
          evaluate(trained.model, trained.plugin, splits.val, o, device)};
}

}  // namespace mantissa::llm
