// funnel/concepts/sink.h
// -----------------------------------------------------------------------------
// The Sink concepts: sink and its optional hooks.
// One of the four policy concepts of funnel/concepts.h, which includes it
// and says how to read these blocks (threads, optional hooks).
#ifndef FUNNEL_CONCEPTS_SINK_H_
#define FUNNEL_CONCEPTS_SINK_H_

#include <concepts>
#include <cstddef>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "funnel/buffer.h"  // const_buffer

namespace funnel {

// -----------------------------------------------------------------------------
// Sink: where the bytes go. Owned by the writer and called only from the
// writer thread, so a sink needs no synchronisation of its own.
//
// Required expressions, for `S s`, `std::span<const const_buffer> b`:
//   S is move-constructible   (it is moved into the writer).
//   s.write(b) -> absl::StatusOr<std::size_t>
//       Writes a prefix of the concatenation of `b` (b is never empty and
//       holds no zero-length range) and returns how many bytes it took:
//       at least 1 on success. Short counts are normal (pipe buffer full,
//       IOV_MAX reached); the writer calls again with the rest, resuming at
//       the exact byte. Interrupts (EINTR) and would-block (EAGAIN) are the
//       sink's business: a sink either retries/waits or returns an error.
//       An error status stops the writer; its message must name the cause
//       (errno text, the limit exceeded).
// Optional hooks:
//   s.flush() -> absl::Status      called once at the end of each batch.
//   s.on_writer_thread_start()     called once on the writer thread before
//                                  the first write (e.g. to mask SIGPIPE).
//   s.on_writer_thread_stop()      called once on the writer thread after its
//                                  last write (clean close or failure), before
//                                  close() returns: undo what the start hook
//                                  did. Exceptions from it are ignored.
//   s.cancel() noexcept            owner thread, CONCURRENTLY with a write()
//                                  on the writer thread: makes a write that
//                                  is blocked (waiting for the peer) return an
//                                  error promptly, and every later write fail
//                                  at once. Idempotent. Called only when a
//                                  close(deadline) or the destructor's
//                                  shutdown_timeout runs out; without it, such
//                                  a close waits for the blocked write() to
//                                  return on its own (e.g. a write timeout).
//   s.status() -> absl::Status     const: OK, or why the sink cannot work
//                                  (a set-up step failed in its constructor:
//                                  no fd for a wake pipe, an fd it cannot
//                                  make interruptible). basic_writer reads it
//                                  once, before it starts its thread, and
//                                  starts failed with it (every send, flush()
//                                  and close() return it).
//
// Exceptions: a write(), flush() or hook that throws fails the writer with
// Internal naming what() (the process lives on); prefer returning a status.
//
// Models: posix_writev_sink, memory_sink, and on Windows win32_handle_sink,
// win32_socket_sink (policies/sink/). Conformance suite:
// funnel/testing/sink_conformance.h.
template <class S>
concept sink_has_write = requires(S& s, std::span<const const_buffer> b) {
  { s.write(b) } -> std::same_as<absl::StatusOr<std::size_t>>;
};
template <class S>
concept sink = std::move_constructible<S> && sink_has_write<S>;
template <class S>
concept flushable_sink = sink<S> && requires(S& s) {
  { s.flush() } -> std::same_as<absl::Status>;
};
template <class S>
concept sink_with_thread_start = sink<S> && requires(S& s) {
  s.on_writer_thread_start();
};
template <class S>
concept sink_with_thread_stop = sink<S> && requires(S& s) {
  s.on_writer_thread_stop();
};
template <class S>
concept cancellable_sink = sink<S> && requires(S& s) {
  { s.cancel() }
  noexcept;
};
template <class S>
concept sink_with_status = sink<S> && requires(const S& s) {
  { s.status() } -> std::same_as<absl::Status>;
};

}  // namespace funnel

#endif  // FUNNEL_CONCEPTS_SINK_H_
