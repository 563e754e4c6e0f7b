// The LLM example: `llm train` trains a GPT on a text file (Tiny Shakespeare by default)
// with nanoGPT's presets; `llm sample` generates text from a checkpoint; `llm eval`
// measures a checkpoint's loss with as many batches as asked.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "examples/common/divergence_flags.h"
#include "examples/common/error_exit.h"
#include "examples/common/precision_flags.h"
#include "examples/llm/checkpoint.h"
#include "examples/llm/data.h"
#include "examples/llm/sample.h"
#include "examples/llm/trainer.h"
#include <mantissa/distributed/world.h>

using namespace mantissa;
using namespace mantissa::llm;

namespace {

void add_train_flags(CLI::App& cmd, TrainOptions& o, std::string& preset_name) {
  cmd.add_option("--preset", preset_name, "cpu (nanoGPT's macbook run) or gpu (its baby GPT)")->capture_default_str();
  cmd.add_option("--data", o.data, "text file to train on (default: <data dir>/tinyshakespeare/input.txt)");
  cmd.add_option("--tokenizer", o.tokenizer, "char or gpt2")->check(CLI::IsMember({"char", "gpt2"}));
  cmd.add_option("--bpe-dir", o.bpe_dir, "folder with GPT-2's encoder.json and vocab.bpe");
  cmd.add_option("--steps", o.steps, "optimizer steps");
  cmd.add_option("--batch-size", o.batch_size, "sequences per step");
  cmd.add_option("--block-size", o.model.block_size, "context length");
  cmd.add_option("--n-layer", o.model.n_layer);
  cmd.add_option("--n-head", o.model.n_head);
  cmd.add_option("--n-embd", o.model.n_embd);
  cmd.add_option("--dropout", o.model.dropout);
  cmd.add_option("--lr", o.lr, "peak learning rate");
  cmd.add_option("--min-lr", o.min_lr, "learning rate at the end of the cosine decay");
  cmd.add_option("--warmup-steps", o.warmup_steps);
  cmd.add_option("--lr-decay-steps", o.lr_decay_steps);
  cmd.add_option("--weight-decay", o.weight_decay);
  cmd.add_option("--grad-clip", o.grad_clip, "max gradient norm (0: off)");
  cmd.add_option("--schedule-clock", o.schedule_clock,
                 "what the learning-rate schedule counts: iterations (skipped steps included, as nanoGPT) or "
                 "optimizer-steps (only steps taken)")
      ->capture_default_str();
  examples::add_divergence_flags(cmd, o);
  cmd.add_option("--eval-interval", o.eval_interval);
  cmd.add_option("--eval-iters", o.eval_iters);
  cmd.add_option("--log-interval", o.log_interval);
  cmd.add_option("--instrument-interval", o.instrument_interval,
                 "write precision instruments (memory, format statistics, stagnation) to <out-dir>/precision.jsonl "
                 "every this many steps (0: off)");
  cmd.add_option("--out-dir", o.out_dir, "where checkpoints and metrics.jsonl go");
  cmd.add_flag("--resume", o.resume, "continue from <out-dir>/last.safetensors");
  cmd.add_option("--seed", o.seed);
  cmd.add_option("--threads", o.threads, "CPU threads (default: all)");
  cmd.add_option("--device", o.device, "where to train: cpu, cuda or cuda:N")->capture_default_str();
  examples::add_precision_flags(cmd, o);
  cmd.add_option("--grad-comm", o.grad_comm,
                 "under mpirun: the format gradients are averaged in: f32, bf16, f16, fp8-e4m3, fp8-e5m2; -sum: "
                 "summed by the engine in that format; +ef: error feedback")
      ->capture_default_str();
  cmd.add_option("--grad-accum", o.grad_accum, "micro-batches per optimizer step")->capture_default_str();
  cmd.add_flag("--zero", o.zero,
               "under mpirun: shard the optimizer state and f32 master weights across the ranks (ZeRO-1)");
  cmd.add_option("--bucket-cap-mb", o.bucket_cap_mb, "under mpirun: gradient bucket size (MiB of f32)")
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mantissa LLM example: a GPT on Tiny Shakespeare (or any UTF-8 text)"};
  app.require_subcommand(1);

  // Presets are applied before the other flags so that flags override them.
  std::string preset_name = "cpu";
  TrainOptions train_options = preset(preset_name);
  CLI::App* train_cmd = app.add_subcommand("train", "train a model");
  add_train_flags(*train_cmd, train_options, preset_name);
  train_cmd->preparse_callback([&](size_t) {
    for (int i = 1; i + 1 < argc; ++i)
      if (std::string(argv[i]) == "--preset") train_options = preset(argv[i + 1]);
  });

  std::string checkpoint_path = "out-llm/best.safetensors", prompt, bpe_dir;
  SampleOptions sample_options;
  uint64_t sample_seed = 1337;
  CLI::App* sample_cmd = app.add_subcommand("sample", "generate text from a checkpoint");
  sample_cmd->add_option("--checkpoint", checkpoint_path)->capture_default_str();
  sample_cmd->add_option("--prompt", prompt, "text to continue (default: a newline)");
  sample_cmd->add_option("--tokens", sample_options.max_new_tokens)->capture_default_str();
  sample_cmd->add_option("--temperature", sample_options.temperature)->capture_default_str();
  sample_cmd->add_option("--top-k", sample_options.top_k)->capture_default_str();
  sample_cmd->add_option("--seed", sample_seed)->capture_default_str();
  sample_cmd->add_option("--bpe-dir", bpe_dir, "folder with GPT-2's BPE files, for gpt2 checkpoints");
  std::string device_name = "cpu";  // sample's and eval's; a checkpoint runs on any device
  sample_cmd->add_option("--device", device_name, "cpu, cuda or cuda:N")->capture_default_str();

  std::string eval_checkpoint = "out-llm/best.safetensors", eval_data;
  int64_t eval_iters = 200;
  CLI::App* eval_cmd = app.add_subcommand("eval", "loss of a checkpoint on both splits");
  eval_cmd->add_option("--checkpoint", eval_checkpoint)->capture_default_str();
  eval_cmd->add_option("--eval-iters", eval_iters, "batches per split")->capture_default_str();
  eval_cmd->add_option("--data", eval_data, "text file (default: the one it was trained on)");
  eval_cmd->add_option("--device", device_name, "cpu, cuda or cuda:N")->capture_default_str();

  const auto work = [&]() -> int {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    if (*train_cmd) {
      // Under mpirun every rank trains; rank 0 alone prints (and writes, trainer.cpp).
      std::ostream null_stream(nullptr);
      const bool speaks = distributed::init().rank() == 0;
      const TrainResult result = train(train_options, speaks ? std::cout : null_stream);
      // Now, while the CUDA runtime is certainly alive: at exit, NCCL's teardown would race
      // the runtime's own exit handlers (PyTorch asks for destroy_process_group likewise).
      distributed::shutdown();
      // Stopped by a signal, after saving: the shell's status for that signal, as if it had
      // ended the process, so scripts see the run did not finish.
      if (result.stopped_by_signal) return 128 + result.stopped_by_signal;
    } else if (*eval_cmd) {
      const EvalResult r = evaluate_checkpoint(eval_checkpoint, eval_data, eval_iters, parse_device(device_name));
      std::cout << fmt::format("{}: train loss {:.4f}, val loss {:.4f} ({} batches each)\n", eval_checkpoint,
                               r.train_loss, r.val_loss, eval_iters);
    } else {
      const RunRecord c = read_run_record(checkpoint_path);
      const Tokenizer tokenizer =
          Tokenizer::from_json(c.tokenizer_json, bpe_dir.empty() ? default_data_dir() / "gpt2-bpe" : std::filesystem::path(bpe_dir));
      const TrainedModel trained = load_trained_model(checkpoint_path, c, parse_device(device_name));
      Generator generator(sample_seed);
      std::cout << generate(trained.model, tokenizer, prompt, sample_options, generator, &trained.plugin) << "\n";
    }
    return 0;
  };
  return examples::run_reporting_errors(work, [](const std::string& cause) {
    // With other ranks waiting for this one, end them all now rather than at their timeout.
    if (distributed::is_initialized() && distributed::world().size() > 1) distributed::abort_job(cause);
  });
}
