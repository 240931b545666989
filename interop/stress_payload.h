// interop/stress_payload.h
// -----------------------------------------------------------------------------
// The payloads of the interop stress stream, derivable on both sides: the
// C++ writer (interop/stress_writer.cc) builds them, the Node verifier
// (interop/verify.mjs, function `expectedPayload`) rebuilds each one from
// (seed, producer, sequence) and compares every byte. Keep the two in step.
//
//   key(seed, p, s) = fmix32(seed ^ fmix32(p * 0x9E3779B1 + s * 0x85EBCA77 + 1))
//   size            = 0 for s == 0, 65536 for s == 1, else
//                     fmix32(key ^ 0xA5A5A5A5) % 65537      (0 .. 64 KiB)
//   word j          = fmix32(key + j * 0x9E3779B9), little-endian bytes
//   bytes 0..11     (when size >= 12) producer, sequence and size, u32
//                   big-endian each, so a payload names itself in a dump
// All arithmetic is modulo 2^32; fmix32 is MurmurHash3's finaliser.
#ifndef FUNNEL_INTEROP_STRESS_PAYLOAD_H_
#define FUNNEL_INTEROP_STRESS_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace funnel::interop {

inline constexpr std::uint32_t fmix32(std::uint32_t h) noexcept {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

inline constexpr std::uint32_t payload_key(std::uint32_t seed, std::uint32_t producer,
                                           std::uint32_t seq) noexcept {
  return fmix32(seed ^ fmix32(producer * 0x9E3779B1u + seq * 0x85EBCA77u + 1u));
}

inline constexpr std::uint32_t kMaxStressPayload = 65536;

inline constexpr std::uint32_t payload_size(std::uint32_t seed, std::uint32_t producer,
                                            std::uint32_t seq) noexcept {
  if (seq == 0) return 0;
  if (seq == 1) return kMaxStressPayload;
  return fmix32(payload_key(seed, producer, seq) ^ 0xA5A5A5A5u) % (kMaxStressPayload + 1);
}

inline std::vector<std::uint8_t> make_payload(std::uint32_t seed, std::uint32_t producer,
                                              std::uint32_t seq) {
  const std::uint32_t size = payload_size(seed, producer, seq);
  const std::uint32_t key = payload_key(seed, producer, seq);
  std::vector<std::uint8_t> out(size);
  for (std::uint32_t i = 0; i < size; i += 4) {
    const std::uint32_t word = fmix32(key + (i >> 2) * 0x9E3779B9u);
    for (std::uint32_t b = 0; b < 4 && i + b < size; ++b) {
      out[i + b] = static_cast<std::uint8_t>(word >> (b * 8));
    }
  }
  if (size >= 12) {
    const std::uint32_t fields[3] = {producer, seq, size};
    for (int f = 0; f < 3; ++f) {
      for (int b = 0; b < 4; ++b)
        out[f * 4 + b] = static_cast<std::uint8_t>(fields[f] >> (24 - 8 * b));
    }
  }
  return out;
}

}  // namespace funnel::interop

#endif  // FUNNEL_INTEROP_STRESS_PAYLOAD_H_
