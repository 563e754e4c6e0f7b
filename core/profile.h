#pragma once
// A step profile: where the time of a training step goes, by category, so that speed work
// is aimed. Any program turns it on for its thread with a Session; while one is open, every
// backend primitive that thread calls is timed (core/profiling_backend.cpp) and the layers
// above add their own scopes (autograd's backward, the optimizer step). Time is exclusive:
// a scope's own time excludes the scopes inside it, so the categories add up to the
// session's wall time.
//
//   profile::Session session;
//   { profile::Scope step("step", profile::Category::framework); train_step(); }
//   fmt::print("{}", session.report().table());
//
// On a GPU each timed primitive waits for the device before its clock stops, so a profiled
// GPU step is serialised: the shares are meaningful, the total is slower than unprofiled.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <mantissa/core/tensor.h>

namespace mantissa::profile {

// What the time was spent on. The backend primitives fall into the first group by kind;
// the last four are the own time of scopes the layers above open (attention: fused kernels
// that run their GEMMs and softmax below the backend).
#define MANTISSA_FOR_EACH_PROFILE_CATEGORY(X)                                                        \
  X(gemm) X(conv) X(elementwise) X(cast) X(copy) X(reduction) X(norm) X(softmax) X(loss) X(indexing) \
  X(random) X(allocator) X(attention) X(optimizer) X(autograd) X(framework)
#define MANTISSA_PROFILE_ENUMERATOR(name) name,
enum class Category { MANTISSA_FOR_EACH_PROFILE_CATEGORY(MANTISSA_PROFILE_ENUMERATOR) };
#undef MANTISSA_PROFILE_ENUMERATOR
const char* category_name(Category category);

// Whether a Session is open on this thread (cheap: one thread-local read).
bool recording();

// Times the code between construction and destruction under `name` (a string literal or
// other string that outlives the session) and `category`, if this thread is recording.
class Scope {
 public:
  Scope(const char* name, Category category);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  bool active_;
};

// Adds floating-point operations to the innermost open scope's count (the GEMM primitive
// reports 2·m·n·k), so the report can give achieved FLOP rates.
void add_flops(double flops);

struct Entry {
  std::string name;
  Category category;
  int64_t calls = 0;
  double total_ms = 0;  // inclusive of nested scopes
  double self_ms = 0;   // exclusive: what the category tables add up
  double flops = 0;
};

struct Report {
  double wall_ms = 0;          // from the session's start (or last reset) to report()
  double outside_ms = 0;       // wall time in no scope
  std::vector<Entry> entries;  // one per scope name, by self time, largest first

  double category_ms(Category category) const;
  // Category shares, the GEMMs' share of the step and their FLOP rate, and the top entries.
  std::string table(int top_entries = 20) const;
  std::string json() const;
};

// The name of a primitive's scope: `name` itself, or, in a session that records shapes,
// `name` followed by the operands' shapes ("matmul [2048, 256] [256, 1024]"), kept by the
// session so the pointer stays valid. Splits a category by the problems that fill it.
const char* shaped_name(const char* name, std::initializer_list<const Shape*> shapes);

// Records this thread's scopes from construction until destruction. Sessions do not nest.
// With `by_shape`, primitives are recorded per operand shapes (shaped_name).
class Session {
 public:
  explicit Session(bool by_shape = false);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void reset();  // drops what was recorded (after warm-up steps, say); scopes must be closed
  Report report() const;
};

}  // namespace mantissa::profile
