#include <mantissa/train/stop_signals.h>

#include <csignal>
#include <unistd.h>

namespace mantissa::training {

namespace {
volatile std::sig_atomic_t g_received = 0;
struct sigaction g_previous_int, g_previous_term;

// Only async-signal-safe calls here: write, sigaction, raise.
void on_stop_signal(int signal) {
  if (signal == SIGINT && g_received == SIGINT) {  // the second Ctrl-C: stop now
    ::sigaction(SIGINT, &g_previous_int, nullptr);
    ::raise(SIGINT);
    return;
  }
  g_received = signal;
  static const char message[] =
      "\nstopping: finishing this step, then saving last.safetensors (Ctrl-C again to exit at once)\n";
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, message, sizeof message - 1);
}
}  // namespace

StopSignals::StopSignals() {
  g_received = 0;
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
}

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
}

int StopSignals::received() const { return g_received; }

const char* StopSignals::name(int signal) {
  return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal";
}

}  // namespace mantissa::training
