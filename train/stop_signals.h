#pragma once
// Stopping a training run cleanly on SIGINT (Ctrl-C) or SIGTERM (a scheduler's kill): while a
// StopSignals lives, the first such signal only sets a flag, which the training loop reads
// after each step to save and exit; a second SIGINT ends the process at once, as Ctrl-C
// normally would. The previous handlers come back when it is destroyed.
//
//   training::StopSignals stop;
//   for (...) {
//     train_one_step();
//     if (stop.received()) { save(); return; }
//   }
namespace mantissa::training {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  int received() const;            // the signal number, 0 while none has arrived
  static const char* name(int signal);  // "SIGINT", "SIGTERM"
};

}  // namespace mantissa::training
