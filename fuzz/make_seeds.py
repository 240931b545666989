#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into fuzz/corpus/.

Each seed is named after what it exercises; the byte layouts are documented
at the top of each target (fuzz/*_fuzz.cc). Running this again rewrites the
same files (deterministic); inputs found by fuzzing that are worth keeping
are added next to them by hand (docs/fuzzing.md), not by this script.

    python3 fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return struct.pack(">B", v & 0xFF)


def u16(v):
    return struct.pack(">H", v & 0xFFFF)


def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def header(method, flags, request, length):
    return u16(method) + u8(flags) + u32(request) + u32(length)


def frame(method, flags, request, payload):
    return header(method, flags, request, len(payload)) + payload


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- decoder_fuzz: u8 mode, [max_payload], u8 nsplits, splits, stream/frames --
def decoder(name, stream, splits=(), mode=0, max_payload=b""):
    write("decoder_fuzz", name, u8(mode) + max_payload + u8(len(splits)) + bytes(splits) + stream)


two = frame(1, 0x03, 42, b"hello") + frame(0xFFFF, 0x1B, 7, b"")
decoder("raw_two_frames_one_push", two)
decoder("raw_two_frames_small_splits", two, splits=(1, 2, 3))
decoder("raw_byte_by_byte", two + frame(9, 0x23, 1, b"x" * 40), splits=(1,))
decoder("raw_empty_pushes", two, splits=(0, 0, 5))
decoder("raw_method_zero_after_a_frame", two + header(0, 0, 1, 0), splits=(4,))
decoder("raw_reserved_flags", header(3, 0x40, 1, 0))
decoder("raw_payload_over_u8_max", frame(3, 0, 1, b"a" * 16) + header(3, 0, 2, 17),
        mode=0b010, max_payload=u8(16))
decoder("raw_payload_over_u16_max", header(3, 0, 2, 70000), mode=0b100, max_payload=u16(65535))
decoder("raw_absolute_max", header(3, 0, 2, 0x7FFFFFFF) + b"abc", mode=0b110)
decoder("raw_trailing_partial_header", two + header(1, 0, 0, 3)[:7], splits=(6,))
decoder("raw_trailing_partial_payload", two + header(1, 0, 0, 30) + b"z" * 12, splits=(13, 1))


def rt_frame(method, flags, request, payload):
    return u16(method) + u8(flags) + u32(request) + u8(len(payload)) + payload


decoder("round_trip_mixed", rt_frame(1, 3, 1, b"abc") + rt_frame(0, 0, 2, b"bad method") +
        rt_frame(0xFFFF, 0x1B, 3, b"") + rt_frame(2, 0xC0, 4, b"bad flags") +
        rt_frame(7, 0x23, 0xFFFFFFFF, bytes(range(200))), splits=(0, 5, 11), mode=1)
decoder("round_trip_small_max", rt_frame(1, 0, 1, b"x" * 8) + rt_frame(1, 0, 2, b"y" * 9),
        splits=(3,), mode=0b011, max_payload=u8(8))
write("decoder_fuzz", "empty", b"")


# --- partial_write_fuzz: u8 config, u8 a, u16 b, u8 n, sizes, frames ----------
def partial(name, config, a, b, sizes, payloads):
    data = u8(config) + u8(a) + u16(b) + u8(len(sizes)) + bytes(sizes)
    for p in payloads:
        data += u8(len(p)) + p
    write("partial_write_fuzz", name, data)


mixed = [b"", b"a", b"0123456789", b"p" * 200, b"", b"q" * 11, b"r" * 255]
partial("count_one_byte_writes", 0b0000, 3, 0, [1], mixed)
partial("count_whole_writes", 0b0000, 15, 0, [], mixed)
partial("byte_batcher_odd_sizes", 0b0101, 15, 300, [3, 1, 7, 0], mixed)
partial("coalescing_small_and_large", 0b1010, 7, 100, [11, 12, 2], mixed)
partial("coalescing_copy_all", 0b0010, 15, 599, [5], mixed)
partial("linger_header_splits", 0b0011, 4, 2, [10, 11, 1], mixed)
partial("empty_ranges_consume", 0b10000, 1, 0, [11, 0, 4], mixed)
partial("boost_queue_batches_of_one", 0b1000, 0, 0, [200, 1], mixed)
partial("single_empty_frame", 0, 0, 0, [1], [b""])


# --- writer_fuzz ---------------------------------------------------------------
PASS, SHORT, FAIL, FAIL_AFTER, SHORTS, RANDOM = range(6)
SEND, TRY, BARRIER, FLUSH, CLOSE, BIG = 0, 2, 4, 5, 6, 7


def writer(name, policies, a, b, max_frames, max_bytes, cap, script, ops, boundary=None):
    data = u8(policies) + u8(a) + u16(b) + u8(max_frames - 1) + u16(max_bytes) + u8(cap)
    data += u8(len(script))
    for entry in script:
        data += bytes(entry)
    data += u8(0 if boundary is None else 0x80 | boundary)
    for op in ops:
        data += bytes(op)
    write("writer_fuzz", name, data)


def send(producer, payload, wait=True):
    return [(SEND if wait else TRY) | producer << 3, len(payload)] + list(payload)


def big(producer, length):
    return [BIG | producer << 3, length >> 8, length & 0xFF]


clean = [send(0, b"hello"), send(1, b""), send(2, b"x" * 100), [BARRIER], send(3, b"abc"),
         send(0, b"more"), [BARRIER], [FLUSH]]
writer("clean_sends_and_barriers", 0b000000, 3, 0, 16, 0, 0, [], clean)
writer("short_writes_all_policies_1", 0b010101, 2, 300, 8, 0, 5, [[SHORTS, 3]], clean)
writer("short_writes_all_policies_2", 0b101010, 5, 40, 8, 0, 0, [[RANDOM, 9, 17]], clean)
writer("linger_sink_cap", 0b111111, 7, 3, 4, 0, 1, [[SHORT, 1], [PASS]], clean)
writer("frame_bound_try_and_send", 0b000100, 1, 0, 2, 0, 0, [],
       [send(0, b"1", False), send(1, b"2", False), send(2, b"3", False), send(3, b"4"),
        [BARRIER], send(0, b"5", False)])
writer("byte_bound_and_too_large", 0b001000, 1, 0, 16, 60, 0, [],
       [send(0, b"a" * 20), send(0, b"b" * 20), send(1, b"c" * 20), big(2, 100), [BARRIER],
        send(1, b"c" * 20)])
writer("fail_on_second_call", 0b000001, 0, 0, 8, 0, 0, [[PASS], [FAIL]],
       [send(0, b"one"), [BARRIER], send(1, b"two"), send(2, b"three"), [BARRIER],
        send(3, b"after"), [FLUSH]])
writer("fail_after_bytes_mid_frame", 0b100010, 3, 0, 8, 0, 0, [[FAIL_AFTER, 0, 30]],
       [send(0, b"x" * 10), send(1, b"y" * 10), send(2, b"z" * 10), [BARRIER]])
writer("fail_after_bytes_exact", 0b010000, 15, 0, 8, 0, 0, [[FAIL_AFTER, 0, 32]],
       [send(0, b"x" * 10), send(1, b"y" * 10), [BARRIER], send(2, b"z"), [CLOSE]])
writer("fail_while_closing", 0b000011, 15, 0, 8, 0, 0, [[SHORT, 4], [FAIL]],
       [send(0, b"held"), send(1, b"held too"), [CLOSE], send(2, b"late"), [FLUSH], [CLOSE]])
writer("close_then_everything", 0b001100, 1, 0, 3, 0, 0, [],
       [send(0, b"a"), [CLOSE], send(1, b"b"), send(1, b"c", False), [BARRIER], [FLUSH],
        [CLOSE]])
writer("no_ops", 0, 0, 0, 1, 0, 0, [], [])
# Frames of 21 bytes (11 + 10): the sink fails exactly after the second, in
# the middle of one batch, and again with short writes that end there.
three = [send(0, b"x" * 10), send(1, b"y" * 10), send(2, b"z" * 10), [BARRIER]]
writer("fail_after_bytes_on_frame_boundary", 0b000000, 15, 0, 8, 0, 0, [[FAIL_AFTER, 0, 42]],
       three)
writer("boundary_fault_second_frame", 0b100000, 15, 0, 8, 0, 0, [], three, boundary=1)
writer("boundary_fault_short_writes", 0b010010, 15, 0, 8, 0, 0, [[SHORTS, 7]],
       three + [send(3, b"w"), [CLOSE]], boundary=1)
writer("boundary_fault_first_frame_at_close", 0b001001, 3, 0, 8, 0, 3, [],
       [send(0, b""), send(1, b"late")], boundary=0)
