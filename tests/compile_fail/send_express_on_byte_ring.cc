// expect: send_express/try_send_express need a frame queue
#include "funnel/funnel.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/queue/byte_ring.h"

// A byte_ring writer has no express lane: send_express must not compile.
int main() {
  funnel::basic_writer<funnel::byte_ring<funnel::outbound_frame>, funnel::memory_sink,
                       funnel::condvar_backpressure, funnel::byte_batcher>
      w(funnel::memory_sink{});
  return w.handle().send_express(funnel::outbound_frame()).ok() ? 0 : 1;
}
