// funnel/detail/process.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// Which process and which thread a writer call runs in, for the two calls a
// writer must refuse rather than hang on:
//   * a call in a child of fork(): the writer thread does not exist there,
//     and its sink, wake pipe and fds are shared with the parent. A
//     pthread_atfork child handler (registered once, by the first writer)
//     bumps fork_generation in the child only; a writer remembers the
//     generation it was made in, so `forked(gen)` is one relaxed load of a
//     read-mostly global. Relaxed: the handler runs in the child's only
//     thread before fork() returns there, and any thread the child starts
//     later is ordered after it by its creation.
//   * close() or flush() on the writer's own thread (from a Sink, Observer or
//     other policy hook): the writer would wait for itself. The writer thread
//     marks itself (a thread_local pointer to its shared state).
// Windows has no fork(): there the generation never changes.
//
// Thread-safety: any thread. Allocation: none.
#ifndef FUNNEL_DETAIL_PROCESS_H_
#define FUNNEL_DETAIL_PROCESS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"

#if !defined(_WIN32)
#include <pthread.h>
#endif

namespace funnel::detail {

inline std::atomic<std::uint32_t> fork_generation{0};

#if !defined(_WIN32)
extern "C" inline void funnel_on_fork_child() noexcept {
  fork_generation.fetch_add(1, std::memory_order_relaxed);  // see above
}
#endif

// Registers the child handler once per program, and returns the generation
// of the process calling it: a writer's birth mark.
inline std::uint32_t fork_watch() noexcept {
#if !defined(_WIN32)
  // If registration fails (ENOMEM), forks go unnoticed: the behaviour before
  // this check existed; nothing else breaks.
  [[maybe_unused]] static const bool registered =
      ::pthread_atfork(nullptr, nullptr, &funnel_on_fork_child) == 0;
#endif
  return fork_generation.load(std::memory_order_relaxed);
}

// True in a child of fork() made after a writer of generation `gen`.
inline bool forked(std::uint32_t gen) noexcept {
  return fork_generation.load(std::memory_order_relaxed) != gen;  // see above
}

inline absl::Status forked_status() {
  return absl::FailedPreconditionError(
      "funnel writer was made in the parent of this fork()ed process: its writer thread does "
      "not run here, and its sink is shared with the parent, so the child neither writes, "
      "waits, cancels nor wakes anything; make a new writer in the child");
}

// The writer thread's mark: the shared state of the writer it runs, or null.
inline thread_local const void* current_writer = nullptr;

inline absl::Status self_close_status() {
  return absl::FailedPreconditionError(
      "close() called on the writer's own thread (from a Sink, Observer or other policy "
      "hook) would wait for itself; the close has begun: the writer stops admission, writes "
      "what it accepted and ends; close() from another thread waits for it");
}
inline absl::Status self_flush_status() {
  return absl::FailedPreconditionError(
      "flush() called on the writer's own thread (from a Sink, Observer or other policy "
      "hook) would wait for itself; nothing was waited for");
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_PROCESS_H_
