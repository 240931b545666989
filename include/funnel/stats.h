// funnel/stats.h
// -----------------------------------------------------------------------------
// `writer_stats`: a snapshot of a writer's counters, readable at any time from
// any thread without stopping the writer (basic_writer::stats()).
//
// Each counter is individually exact; a snapshot taken while the writer runs
// is not a consistent cut across counters (they are read one by one). After
// close() returns, the snapshot is final and
//   accepted == frames_written + frames_lost + frames_dropped
// (frames_dropped is zero unless a drop policy is used:
// drop_newest_backpressure, drop_oldest_backpressure).
#ifndef FUNNEL_STATS_H_
#define FUNNEL_STATS_H_

#include <cstdint>

namespace funnel {

struct writer_stats {
  std::uint64_t frames_accepted = 0;        // send/try_send calls that returned OK
  std::uint64_t frames_written = 0;         // frames whose last byte the sink took
  std::uint64_t bytes_written = 0;          // wire bytes the sink took
  std::uint64_t batches = 0;                // batches completely written
  std::uint64_t write_calls = 0;            // Sink::write calls
  std::uint64_t partial_writes = 0;         // write calls that took less than offered
  std::uint64_t express_frames = 0;         // of frames_written, through the express lane
  std::uint64_t backpressure_waits = 0;     // sends that had to wait for budget
  std::uint64_t backpressure_timeouts = 0;  // sends that gave up (DeadlineExceeded)
  std::uint64_t frames_lost = 0;            // accepted, never completely written (writer failed)
  std::uint64_t frames_dropped = 0;         // accepted, dropped by a drop policy before any batch
  // A gauge, not a counter: threads inside flush() or close() waiting for
  // the writer at the moment of the snapshot.
  std::uint64_t flush_waiters = 0;
};

}  // namespace funnel

#endif  // FUNNEL_STATS_H_
