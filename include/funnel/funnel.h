// funnel/funnel.h
// -----------------------------------------------------------------------------
// Everything: the core, the framings, the memory sink and the presets.
// Include the individual headers (and depend on the individual Bazel
// targets) to keep builds lean.
#ifndef FUNNEL_FUNNEL_H_
#define FUNNEL_FUNNEL_H_

#include "funnel/basic_writer.h"             // basic_writer, its handle
#include "funnel/buffer.h"                   // const_buffer, consume_front
#include "funnel/bytes.h"                    // payload type
#include "funnel/concepts.h"                 // the four policy concepts
#include "funnel/event_count.h"              // the wait helper for your own Queue
#include "funnel/frame.h"                    // the Frame concept
#include "funnel/framing/length_prefixed.h"  // be32/le32/varint length-prefixed frames
#include "funnel/framing/raw.h"              // pre-framed bytes, optional delimiter
#include "funnel/observer.h"                 // the optional Observer, batch_report
#include "funnel/options.h"                  // writer_options
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/presets.h"                 // policy algebra, procwire_writer
#include "funnel/procwire/frame.h"          // procwire header, outbound_frame
#include "funnel/procwire/frame_decoder.h"  // reading the stream back
#include "funnel/stats.h"                   // writer_stats

#endif  // FUNNEL_FUNNEL_H_
