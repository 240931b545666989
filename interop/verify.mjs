// interop/verify.mjs: the Node half of the interop check (.ci/interop.sh).
// Decodes the stress stream of interop/stress_writer.cc with the real
// protocol's decoder, @procwire/protocol's FrameBuffer (pinned in
// interop/package.json), and checks, per configuration stream:
//   * it starts with a "begin" frame (method 0xF000, JSON) naming the
//     configuration, the producers, the frames per producer and the seed;
//   * every producer's frames (method 1 + producer, request id = sequence)
//     arrive in order, none missing, none twice, nothing after the last;
//   * every payload byte equals the one derived from (seed, producer,
//     sequence) (expectedPayload, the twin of interop/stress_payload.h);
//   * the stream ends on a frame boundary.
// The run ends with a "done" frame (method 0xF0FF, JSON {"streams": N}); N
// must equal the number of streams checked.
//
//   node interop/verify.mjs --pipe            # the stream on stdin
//   node interop/verify.mjs --listen PATH     # one connection per stream
//
// Prints a line per stream and a summary; exits 1 on any mismatch, 0 when
// everything matched.
import { FrameBuffer } from "@procwire/protocol";
import net from "node:net";
import fs from "node:fs";

const BEGIN = 0xf000;
const DONE = 0xf0ff;
const MAX_STRESS_PAYLOAD = 65536;

function fmix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function payloadKey(seed, producer, seq) {
  return fmix32((seed ^ fmix32((Math.imul(producer, 0x9e3779b1) + Math.imul(seq, 0x85ebca77) + 1) >>> 0)) >>> 0);
}

function payloadSize(seed, producer, seq) {
  if (seq === 0) return 0;
  if (seq === 1) return MAX_STRESS_PAYLOAD;
  return fmix32((payloadKey(seed, producer, seq) ^ 0xa5a5a5a5) >>> 0) % (MAX_STRESS_PAYLOAD + 1);
}

function expectedPayload(seed, producer, seq) {
  const size = payloadSize(seed, producer, seq);
  const key = payloadKey(seed, producer, seq);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) {
    const word = fmix32((key + Math.imul(i >>> 2, 0x9e3779b9)) >>> 0);
    for (let b = 0; b < 4 && i + b < size; ++b) out[i + b] = (word >>> (b * 8)) & 0xff;
  }
  if (size >= 12) {
    out.writeUInt32BE(producer, 0);
    out.writeUInt32BE(seq, 4);
    out.writeUInt32BE(size, 8);
  }
  return out;
}

const totals = { streams: 0, frames: 0, bytes: 0, errors: [] };
let doneStreams = null; // the count the "done" frame announced

// Checks one configuration's frames; `finish()` at its end.
class StreamCheck {
  constructor(label) {
    this.label = label;
    this.config = null;
    this.next = [];
    this.frames = 0;
    this.bytes = 0;
    this.errors = [];
  }
  error(msg) {
    if (this.errors.length < 10) this.errors.push(`${this.config?.config ?? this.label}: ${msg}`);
  }
  frame(frame) {
    const h = frame.header;
    if (h.methodId === BEGIN) {
      if (this.config) this.finish(); // pipe: the next configuration starts
      this.config = JSON.parse(frame.payload.toString("utf8"));
      this.next = new Array(this.config.producers).fill(0);
      this.frames = this.bytes = 0;
      this.errors = [];
      return;
    }
    if (h.methodId === DONE) {
      if (this.config) this.finish();
      doneStreams = JSON.parse(frame.payload.toString("utf8")).streams;
      return;
    }
    if (!this.config) return this.error(`frame (method ${h.methodId}) before any begin frame`);
    const producer = h.methodId - 1;
    if (producer < 0 || producer >= this.config.producers) {
      return this.error(`unknown producer (method ${h.methodId})`);
    }
    const want = this.next[producer];
    if (h.requestId !== want) {
      return this.error(
        h.requestId < want
          ? `producer ${producer}: frame ${h.requestId} again (duplicate or reordered), expected ${want}`
          : `producer ${producer}: frame ${h.requestId} arrived, expected ${want} (lost ${h.requestId - want})`,
      );
    }
    if (want >= this.config.frames) return this.error(`producer ${producer}: extra frame ${want}`);
    this.next[producer] = want + 1;
    const got = frame.payload;
    const expected = expectedPayload(this.config.seed, producer, want);
    if (got.length !== expected.length) {
      this.error(`producer ${producer} frame ${want}: ${got.length} payload bytes, expected ${expected.length}`);
    } else if (!got.equals(expected)) {
      let i = 0;
      while (got[i] === expected[i]) ++i;
      this.error(`producer ${producer} frame ${want}: payload byte ${i} is ${got[i]}, expected ${expected[i]}`);
    }
    this.frames += 1;
    this.bytes += got.length;
  }
  finish() {
    if (!this.config) return;
    this.next.forEach((n, p) => {
      if (n !== this.config.frames) this.error(`producer ${p}: ${n} of ${this.config.frames} frames arrived`);
    });
    totals.streams += 1;
    totals.frames += this.frames;
    totals.bytes += this.bytes;
    totals.errors.push(...this.errors);
    console.log(
      `verify: ${this.config.config.padEnd(44)} ${this.frames} frames, ${this.bytes} payload bytes` +
        (this.errors.length ? `, ${this.errors.length} ERROR(S)` : ", OK"),
    );
    this.config = null;
  }
}

// Feeds a byte stream (stdin or one connection) through a FrameBuffer.
function consume(stream, label, onEnd) {
  const decoder = new FrameBuffer();
  const check = new StreamCheck(label);
  let broken = false;
  stream.on("data", (chunk) => {
    if (broken) return;
    try {
      for (const frame of decoder.push(chunk)) check.frame(frame);
    } catch (e) {
      broken = true;
      totals.errors.push(`${label}: the decoder rejected the stream: ${e.message}`);
    }
  });
  stream.on("end", () => {
    if (decoder.hasPartialFrame) {
      totals.errors.push(`${label}: the stream ends inside a frame (${decoder.bufferedBytes} bytes left)`);
    }
    check.finish();
    onEnd();
  });
  stream.on("error", (e) => {
    totals.errors.push(`${label}: ${e.message}`);
  });
}

function summary() {
  if (doneStreams === null) totals.errors.push('no "done" frame: the writer did not finish');
  else if (doneStreams !== totals.streams) {
    totals.errors.push(`the writer wrote ${doneStreams} streams, ${totals.streams} were checked`);
  }
  for (const e of totals.errors) console.log(`verify: ERROR ${e}`);
  console.log(
    `verify: ${totals.streams} streams, ${totals.frames} frames, ${totals.bytes} payload bytes, ` +
      `${totals.errors.length} error(s)`,
  );
  process.exit(totals.errors.length === 0 ? 0 : 1);
}

const args = process.argv.slice(2);
if (args[0] === "--pipe") {
  consume(process.stdin, "pipe", summary);
} else if (args[0] === "--listen" && args[1]) {
  const path = args[1];
  if (fs.existsSync(path)) fs.unlinkSync(path);
  let open = 0;
  let conn = 0;
  const server = net.createServer((socket) => {
    open += 1;
    consume(socket, `connection ${++conn}`, () => {
      open -= 1;
      // The last connection carries the "done" frame; earlier ones may still
      // be draining, so finish once every connection has ended.
      if (doneStreams !== null && open === 0) {
        server.close();
        summary();
      }
    });
  });
  server.listen(path);
  // A writer that never connects or never finishes is a failure, not a hang.
  setTimeout(() => {
    totals.errors.push("timed out after 300 s");
    summary();
  }, 300_000).unref();
} else {
  console.error("usage: node verify.mjs --pipe | --listen PATH");
  process.exit(2);
}
