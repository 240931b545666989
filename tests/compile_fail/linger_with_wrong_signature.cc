// expect: funnel: the Batcher's linger(const batch_stats&) must be const and return
#include <cstddef>

#include "funnel/funnel.h"

struct batcher_lingering_in_ms {
  bool admits(const funnel::batch_stats&, std::size_t) const { return true; }
  std::size_t max_frames_hint() const { return 64; }
  int linger(const funnel::batch_stats&) const { return 5; }  // not absl::Duration
};

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, funnel::memory_sink,
                       funnel::sleep_backpressure, batcher_lingering_in_ms>
      w(funnel::memory_sink{});
  return 0;
}
