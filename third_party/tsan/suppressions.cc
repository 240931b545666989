// ThreadSanitizer suppressions, compiled into each test binary.
//
// Abseil 20220623 (Debian's source package), built with -fsanitize=thread:
// when absl::Mutex / absl::CondVar wakes a blocked thread, the waker posts
// the sleeper's per-thread semaphore (synchronization_internal::Waiter::Post).
// That semaphore lives in the sleeper's ThreadIdentity, which the sleeper
// allocated (LowLevelAlloc, mmap) and constructed; the happens-before edge
// from that construction to the waker runs through Mutex internals that
// Abseil brackets with __tsan_mutex_* annotations, inside which TSan ignores
// synchronisation. TSan therefore reports the Post as racing with the
// identity's construction. The report is about Abseil's own bookkeeping, not
// about data Abseil's users guard with the Mutex: those races are still
// reported. Newer Abseil releases restructured this code.
//
// Scope: only frames inside Abseil's per-thread semaphore; nothing of
// funnel's is suppressed. (Boost.Lockfree's by-design races are fenced off
// in policies/queue/boost_lockfree_queue.h with TSan ignore annotations that
// still record its atomics.)

extern "C" const char* __tsan_default_suppressions() {
  return "race:absl::*synchronization_internal::Waiter::Post\n"
         "race:absl::*synchronization_internal::Waiter::Poke\n";
}
