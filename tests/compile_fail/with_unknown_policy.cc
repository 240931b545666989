// expect: funnel::with: the policy models none of the Queue, Sink, Backpressure, Batcher and Observer
#include "funnel/presets.h"

struct not_a_policy {};

int main() {
  using broken = funnel::with<funnel::procwire_preset, not_a_policy>;
  return sizeof(broken) > 0 ? 0 : 1;
}
