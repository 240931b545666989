// funnel/concepts.h
// -----------------------------------------------------------------------------
// The four policy concepts `basic_writer<Queue, Sink, Backpressure, Batcher>`
// is built from (Frame, what travels, is in funnel/frame.h; the writer takes
// its frame type from Queue::value_type; the optional fifth policy, Observer,
// defaulted to no_observer, is in funnel/observer.h). Each concept block says:
// the required expressions, their semantics, which thread may call what, and the models funnel
// ships.
//
// Threads, as used below:
//   * producer: any thread holding a writer handle (many, concurrently);
//   * writer:   the one thread basic_writer starts (exactly one);
//   * owner:    the thread that constructs, closes or destroys the writer.
//
// Policies are data members of the writer's shared state, never base classes.
// Optional hooks are detected with `requires`, never virtual functions.
//
// One header per concept, all included here:
//   funnel/concepts/queue.h         Queue (queue, byte_queue, writer_queue)
//   funnel/concepts/sink.h          Sink
//   funnel/concepts/backpressure.h  Backpressure (overflow members: funnel/overflow.h)
//   funnel/concepts/batcher.h       Batcher (batch_stats)
//
// A policy that misses a member fails at the point of use with a
// `static_assert` sentence naming the member (see basic_writer.h); the
// fine-grained concepts in each header exist to word those sentences.
#ifndef FUNNEL_CONCEPTS_H_
#define FUNNEL_CONCEPTS_H_

#include "funnel/concepts/backpressure.h"
#include "funnel/concepts/batcher.h"
#include "funnel/concepts/queue.h"
#include "funnel/concepts/sink.h"
#include "funnel/frame.h"     // the Frame concept a Queue carries
#include "funnel/overflow.h"  // overflow_action, pending_level, ignore_drops

#endif  // FUNNEL_CONCEPTS_H_
