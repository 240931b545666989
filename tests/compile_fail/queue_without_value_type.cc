// expect: the Queue policy needs `using value_type = <its frame type>`
#include <cstddef>

#include "funnel/funnel.h"

// A queue written before frames were a concept: it names no frame type.
struct queue_without_value_type {
  explicit queue_without_value_type(std::size_t) {}
  bool try_push(funnel::outbound_frame&) { return true; }
  bool try_pop(funnel::outbound_frame&) { return false; }
  bool pop_wait(funnel::outbound_frame&, absl::Time) { return false; }
  void close() {}
  std::size_t capacity() const { return 1; }
};

int main() {
  funnel::basic_writer<queue_without_value_type, funnel::memory_sink, funnel::sleep_backpressure,
                       funnel::count_batcher>
      w(funnel::memory_sink{});
  return 0;
}
