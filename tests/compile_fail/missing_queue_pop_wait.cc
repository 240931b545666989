// expect: the Queue policy needs `bool pop_wait(value_type&, absl::Time)`
#include <cstddef>

#include "funnel/funnel.h"

struct queue_without_pop_wait {
  using value_type = funnel::outbound_frame;
  explicit queue_without_pop_wait(std::size_t) {}
  bool try_push(funnel::outbound_frame&) { return true; }
  bool try_pop(funnel::outbound_frame&) { return false; }
  void close() {}
  std::size_t capacity() const { return 1; }
};

int main() {
  funnel::basic_writer<queue_without_pop_wait, funnel::memory_sink, funnel::sleep_backpressure,
                       funnel::count_batcher>
      w(funnel::memory_sink{});
  return 0;
}
