// funnel/presets.h
// -----------------------------------------------------------------------------
// Every preset funnel ships, with the policy algebra (funnel/policy_set.h).
// Include a single preset's header to keep builds lean:
//   funnel/procwire/preset.h   procwire_preset, procwire_writer
#ifndef FUNNEL_PRESETS_H_
#define FUNNEL_PRESETS_H_

#include "funnel/policy_set.h"
#include "funnel/procwire/preset.h"

#endif  // FUNNEL_PRESETS_H_
