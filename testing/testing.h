// funnel/testing/testing.h
// -----------------------------------------------------------------------------
// The whole testing kit (Bazel: //testing). docs/testing.md shows how each
// tool tests a component that writes through a funnel writer.
#ifndef FUNNEL_TESTING_TESTING_H_
#define FUNNEL_TESTING_TESTING_H_

#include "funnel/testing/fault_sink.h"  // fault_injecting_sink: short writes, errors
#include "funnel/testing/frames.h"      // decode_frames, frame matchers
#include "funnel/testing/mock_sink.h"   // MockSink, mock_sink_ref, batch matchers
#if !defined(_WIN32)
#include "funnel/testing/fault_writev.h"  // scripted_writev: EINTR/EAGAIN below a sink
#endif

#endif  // FUNNEL_TESTING_TESTING_H_
