// The Batcher conformance suite (funnel/testing/batcher_conformance.h, also
// offered to downstream teams) run against every batcher model funnel ships,
// and against the composed ones (funnel/policies/batcher/coalescing.h,
// lingering.h), with procwire frames, and the composed and count batchers
// again with varint and raw frames (funnel/framing/). Models that need constructor arguments
// are tag types with a batcher_conformance_traits specialisation. A new model
// joins by adding itself to `BatcherModels` below, and a name to
// `batcher_model_name`.
//
// This is the only .cc of the test binary that includes the suite: the header
// defines the tests.
#include "funnel/testing/batcher_conformance.h"

#include <string>
#include <type_traits>

#include "absl/time/time.h"
#include "funnel/concepts.h"
#include "funnel/framing/length_prefixed.h"
#include "funnel/framing/raw.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/batcher/linger_batcher.h"
#include "funnel/policies/batcher/lingering.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/testing/frame_factory.h"
#include "gtest/gtest.h"

// GoogleTest pastes the suite name into identifiers, so the suite is
// instantiated inside its own namespace (where GoogleTest is `::testing`).
namespace funnel::testing {

// Settings that make the batchers cut batches often (frames are 19..5400
// bytes) and linger briefly (each end-to-end test waits out one linger at most).
struct small_byte_batcher {};  // byte_batcher(2000 bytes, 16 frames)
template <>
struct batcher_conformance_traits<small_byte_batcher> {
  using batcher_type = byte_batcher;
  using frame_factory = procwire_frame_factory;
  static byte_batcher make() { return byte_batcher(2000, 16); }
};

template <>
struct batcher_conformance_traits<linger_batcher> {
  using batcher_type = linger_batcher;
  using frame_factory = procwire_frame_factory;
  static linger_batcher make() {
    return linger_batcher({.max_frames = 32, .small = 8, .linger = absl::Milliseconds(2)});
  }
};

template <>
struct batcher_conformance_traits<coalescing<byte_batcher>> {
  using batcher_type = coalescing<byte_batcher>;
  using frame_factory = procwire_frame_factory;
  static batcher_type make() { return batcher_type(byte_batcher(3000, 64), 256); }
};

template <>
struct batcher_conformance_traits<lingering<byte_batcher>> {
  using batcher_type = lingering<byte_batcher>;
  using frame_factory = procwire_frame_factory;
  static batcher_type make() {
    return batcher_type(byte_batcher(3000, 64), absl::Milliseconds(2), 16);
  }
};

template <>
struct batcher_conformance_traits<coalescing<lingering<byte_batcher>>> {
  using batcher_type = coalescing<lingering<byte_batcher>>;
  using frame_factory = procwire_frame_factory;
  static batcher_type make() {
    return batcher_type(lingering<byte_batcher>(byte_batcher(3000, 64), absl::Milliseconds(2), 16),
                        128);
  }
};

// The other shipped framings, so every batcher model is also run over frames
// of one range plus a prefix (varint) and payload plus delimiter (raw).
struct varint_frame_factory {
  using frame_type = framing::varint_frame;
  static frame_type make(std::uint32_t i, std::size_t n) {
    absl::StatusOr<frame_type> f = frame_type::make(bytes::copy_from(indexed_payload(i, n)));
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *std::move(f) : frame_type();
  }
};
struct raw_frame_factory {
  using frame_type = framing::raw_frame;
  static frame_type make(std::uint32_t i, std::size_t n) {
    absl::StatusOr<frame_type> f =
        frame_type::make(bytes::copy_from(indexed_payload(i, n)), "\r\n");
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *std::move(f) : frame_type();
  }
};
static_assert(conformance_frame_factory<varint_frame_factory> &&
              conformance_frame_factory<raw_frame_factory>);

struct varint_coalescing_lingering_byte {};  // the most composed batcher, varint frames
template <>
struct batcher_conformance_traits<varint_coalescing_lingering_byte> {
  using batcher_type = coalescing<lingering<byte_batcher>>;
  using frame_factory = varint_frame_factory;
  static batcher_type make() {
    return batcher_type(lingering<byte_batcher>(byte_batcher(3000, 64), absl::Milliseconds(2), 16),
                        128);
  }
};
struct raw_count {};  // count_batcher, raw frames with a CRLF delimiter
template <>
struct batcher_conformance_traits<raw_count> {
  using batcher_type = count_batcher;
  using frame_factory = raw_frame_factory;
  static count_batcher make() { return count_batcher(); }
};
struct varint_small_byte {};  // byte_batcher(2000, 16), varint frames
template <>
struct batcher_conformance_traits<varint_small_byte> {
  using batcher_type = byte_batcher;
  using frame_factory = varint_frame_factory;
  static byte_batcher make() { return byte_batcher(2000, 16); }
};

// The same batchers over the byte ring (funnel/policies/queue/byte_ring.h),
// whose writer loop batches committed records instead of frame objects; small
// frames are copied in, frames of 4 KiB and more travel by reference.
template <class Tag>
struct on_byte_ring {};
template <class Tag>
struct batcher_conformance_traits<on_byte_ring<Tag>> : batcher_conformance_traits<Tag> {
  template <class F>
  using queue_type = byte_ring<F, byte_ring_config{.by_reference_above = 4096}>;
};

namespace {

static_assert(batcher<count_batcher> && batcher<byte_batcher> && batcher<linger_batcher> &&
              batcher<coalescing_batcher>);
static_assert(batcher_with_linger<coalescing<lingering<byte_batcher>>> &&
              batcher_with_coalescing<coalescing<lingering<byte_batcher>>>);

using BatcherModels =
    ::testing::Types<count_batcher, byte_batcher, small_byte_batcher, linger_batcher,
                     coalescing_batcher, coalescing<byte_batcher>, lingering<byte_batcher>,
                     coalescing<lingering<byte_batcher>>, varint_coalescing_lingering_byte,
                     raw_count, varint_small_byte, on_byte_ring<count_batcher>,
                     on_byte_ring<small_byte_batcher>, on_byte_ring<linger_batcher>,
                     on_byte_ring<varint_small_byte>>;

// Test names say which model failed: Models/BatcherConformance/byte.X.
struct batcher_model_name {
  template <class T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, count_batcher>) return "count";
    if constexpr (std::is_same_v<T, byte_batcher>) return "byte";
    if constexpr (std::is_same_v<T, small_byte_batcher>) return "byte_small";
    if constexpr (std::is_same_v<T, linger_batcher>) return "linger";
    if constexpr (std::is_same_v<T, coalescing_batcher>) return "coalescing";
    if constexpr (std::is_same_v<T, coalescing<byte_batcher>>) return "coalescing_byte";
    if constexpr (std::is_same_v<T, lingering<byte_batcher>>) return "lingering_byte";
    if constexpr (std::is_same_v<T, coalescing<lingering<byte_batcher>>>)
      return "coalescing_lingering_byte";
    if constexpr (std::is_same_v<T, varint_coalescing_lingering_byte>)
      return "varint_coalescing_lingering_byte";
    if constexpr (std::is_same_v<T, raw_count>) return "raw_count";
    if constexpr (std::is_same_v<T, varint_small_byte>) return "varint_byte_small";
    if constexpr (std::is_same_v<T, on_byte_ring<count_batcher>>) return "ring_count";
    if constexpr (std::is_same_v<T, on_byte_ring<small_byte_batcher>>) return "ring_byte_small";
    if constexpr (std::is_same_v<T, on_byte_ring<linger_batcher>>) return "ring_linger";
    if constexpr (std::is_same_v<T, on_byte_ring<varint_small_byte>>)
      return "ring_varint_byte_small";
    return "unnamed_model";
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Models, BatcherConformance, BatcherModels, batcher_model_name);

}  // namespace
}  // namespace funnel::testing
