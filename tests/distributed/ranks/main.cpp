// The multi-rank tests' main, run by ctest under `mpirun -np 2` and `-np 3`
// (tests/CMakeLists.txt). Every rank runs every test; the collectives inside must be called
// in the same order on each, so tests use EXPECT (not ASSERT) once they have begun
// communicating. Rank 0 prints GoogleTest's full output, the others their failures only (with
// the file, line and message), and
// every rank exits non-zero when a test failed on any rank.
#include <gtest/gtest.h>

#include <cstdio>

#include <mantissa/mantissa.h>

namespace {

// Names the rank on every failure, as the ranks' output is interleaved.
class RankPrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankPrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (result.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                   result.line_number(), result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  using namespace mantissa;
  distributed::ProcessGroup& group = distributed::init();
  set_num_threads(1);
  std::printf("%s\n", group.describe().c_str());
  ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (group.rank() != 0) delete listeners.Release(listeners.default_result_printer());
  listeners.Append(new RankPrinter(group.rank()));
  const int failed = RUN_ALL_TESTS();
  Tensor any_failed = raw::full({1}, failed ? 1 : 0, TensorOptions{}.with_dtype(DType::i32));
  group.all_reduce(any_failed, distributed::ReduceOp::max);
  const bool ok = any_failed.item() == 0;
  if (group.rank() == 0 && !ok && failed == 0) std::printf("a test failed on another rank\n");
  distributed::shutdown();
  return ok ? 0 : 1;
}
