// interop/tamper.mjs: a pipe filter that breaks a procwire stream on purpose,
// so .ci/interop.sh can show that verify.mjs notices (a check that cannot
// fail proves nothing). It re-frames stdin by the 11-byte header and, at
// frame number INDEX (counting every frame from 0), applies one of
//   drop   leave the frame out                  (a lost frame)
//   dup    write the frame twice                (a duplicate)
//   flip   invert the last payload byte         (a corrupted byte; the
//          frame must have a payload: the next one that has is used)
// Every other byte passes unchanged.
//
//   stress_writer --pipe | node interop/tamper.mjs flip 100 | node interop/verify.mjs --pipe
const [mode, indexArg] = process.argv.slice(2);
const target = Number(indexArg);
if (!["drop", "dup", "flip"].includes(mode) || !Number.isInteger(target)) {
  console.error("usage: node tamper.mjs drop|dup|flip INDEX");
  process.exit(2);
}

const HEADER = 11;
let pending = Buffer.alloc(0);
let index = 0;
let done = false;
const out = [];

function emit(frame) {
  out.push(frame);
}

function onFrame(frame) {
  const i = index++;
  if (done || i < target) return emit(frame);
  switch (mode) {
    case "drop":
      done = true;
      return;
    case "dup":
      emit(frame);
      emit(frame);
      done = true;
      return;
    case "flip":
      if (frame.length === HEADER) return emit(frame); // no payload: try the next one
      frame = Buffer.from(frame);
      frame[frame.length - 1] ^= 0xff;
      done = true;
      return emit(frame);
  }
}

process.stdin.on("data", (chunk) => {
  pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
  let off = 0;
  while (pending.length - off >= HEADER) {
    const size = HEADER + pending.readUInt32BE(off + 7);
    if (pending.length - off < size) break;
    onFrame(pending.subarray(off, off + size));
    off += size;
  }
  pending = pending.subarray(off);
  if (out.length) {
    const ok = process.stdout.write(Buffer.concat(out.splice(0)));
    if (!ok) {
      process.stdin.pause();
      process.stdout.once("drain", () => process.stdin.resume());
    }
  }
});
process.stdin.on("end", () => {
  out.push(pending);
  process.stdout.end(Buffer.concat(out.splice(0)));
});
