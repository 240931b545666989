// expect: drop_oldest_backpressure needs a Queue with `bool try_evict(value_type&)`
#include "funnel/funnel.h"
#include "funnel/policies/backpressure/drop_oldest_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, funnel::memory_sink,
                       funnel::drop_oldest_backpressure<>, funnel::count_batcher>
      w(funnel::memory_sink{});
  return 0;
}
