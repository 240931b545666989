// funnel/policies/backpressure/spin_backpressure.h
// -----------------------------------------------------------------------------
// `spin_backpressure`: a producer that finds the pending bound reached
// busy-waits, calling `ready()` in a tight loop with a CPU pause hint between
// calls, and reads the clock only every `spins_per_clock_read` iterations.
//
// Trade-off, in one sentence: lowest wake-up latency (freed budget is seen
// within a pause or two), paid for with a whole core per waiting producer.
//
// When to use: producer threads pinned to their own cores (the Disruptor's
// "busy spin" case), where a context switch costs more than the burnt cycles
// and nothing else wants the core.
// When not to use: more runnable threads than cores. A spinning producer
// then steals time from the writer thread it is waiting for, and every
// waiter polls the shared budget line; prefer condvar_backpressure.
//
// Cost on the hot path: nothing while budget is available (wait() is only
// called once admission has failed); notify() is empty, so the writer pays
// nothing. While waiting: one `ready()` (a load, and a CAS when budget looks
// free) and one pause per iteration, one absl::Now() per
// `spins_per_clock_read` iterations.
// Thread-safety: wait() from any number of threads at once; notify() from any
// thread. Stateless apart from the constant clock interval.
// Memory ordering: none of its own; `ready()` does the synchronisation.
// Blocking: never blocks; spins by name and by design (the pause hint is
// `pause` on x86, `yield` on AArch64, nothing elsewhere). Returns false as
// soon as it sees the deadline has passed: at most `spins_per_clock_read`
// iterations late.
// Allocation: none.
#ifndef FUNNEL_POLICIES_BACKPRESSURE_SPIN_BACKPRESSURE_H_
#define FUNNEL_POLICIES_BACKPRESSURE_SPIN_BACKPRESSURE_H_

#include <algorithm>
#include <cstdint>

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <immintrin.h>  // _mm_pause (GCC and Clang use the builtin instead)
#elif defined(_MSC_VER) && defined(_M_ARM64)
#include <intrin.h>  // __yield
#endif

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace funnel {

// Pauses between clock reads: a pause is ~10-140 cycles, absl::Now() ~20 ns,
// so the clock costs a few percent of the loop and the deadline is noticed
// within a few microseconds.
inline constexpr std::uint32_t kDefaultSpinsPerClockRead = 64;

class spin_backpressure {
 public:
  spin_backpressure() = default;
  // `spins_per_clock_read` of 0 is taken as 1 (read the clock every time).
  explicit spin_backpressure(std::uint32_t spins_per_clock_read)
      : spins_per_clock_read_(std::max<std::uint32_t>(spins_per_clock_read, 1)) {}

  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) const {
    for (;;) {
      for (std::uint32_t i = 0; i < spins_per_clock_read_; ++i) {
        if (ready()) return true;
        cpu_relax();
      }
      if (absl::Now() >= deadline) return false;
    }
  }

  void notify() const noexcept {}

  std::uint32_t spins_per_clock_read() const noexcept { return spins_per_clock_read_; }

 private:
  // Tells the core we are spinning: frees pipeline resources for a sibling
  // hyperthread and saves power; on x86 it also avoids the memory-order
  // mis-speculation penalty when the awaited line changes.
  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#elif defined(_MSC_VER) && defined(_M_ARM64)
    __yield();
#endif
  }

  std::uint32_t spins_per_clock_read_ = kDefaultSpinsPerClockRead;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BACKPRESSURE_SPIN_BACKPRESSURE_H_
