// funnel/testing/testing.h
// -----------------------------------------------------------------------------
// The whole testing kit (Bazel: //testing). docs/testing.md shows how each
// tool tests a component that writes through a funnel writer.
//
// Not included here: the conformance suites (queue_conformance.h,
// backpressure_conformance.h). They define GoogleTest tests, so each belongs
// in the one .cc of a test binary that instantiates it (docs/testing.md,
// section 5).
#ifndef FUNNEL_TESTING_TESTING_H_
#define FUNNEL_TESTING_TESTING_H_

#include "funnel/testing/fault_sink.h"        // fault_injecting_sink: short writes, errors
#include "funnel/testing/frames.h"            // decode_frames, frame matchers
#include "funnel/testing/framing_decoders.h"  // length-prefixed and delimited streams
#include "funnel/testing/mock_sink.h"         // MockSink, mock_sink_ref, batch matchers
#if !defined(_WIN32)
#include "funnel/testing/fault_writev.h"  // scripted_writev: EINTR/EAGAIN below a sink
#endif

#endif  // FUNNEL_TESTING_TESTING_H_
