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
// Boost.Lockfree 1.74 (policies/queue/boost_lockfree_queue.h adapts it):
// its freelist and tagged pointers read node fields that another thread may
// be writing, and discard what they read when the tag check fails (the
// Michael-Scott queue's benign, by-design race). TSan cannot know the value
// is discarded. Suppressed for frames inside boost::lockfree::detail only.
//
// Scope: only frames inside Abseil's per-thread semaphore and Boost.Lockfree's
// internals; nothing of funnel's is suppressed.

extern "C" const char* __tsan_default_suppressions() {
  return "race:absl::*synchronization_internal::Waiter::Post\n"
         "race:absl::*synchronization_internal::Waiter::Poke\n"
         "race:boost::lockfree::detail::*\n";
}
