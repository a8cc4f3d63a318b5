/**
 * Sections 4 and 5, plus a get round-trip diagnostic: the plugin driven
 * directly over its stdin/stdout, without the go command.
 */
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { LineReader, fmtRatio, median, procMemory, quantile, removeTree, run, tempDir } from "./lib.ts";
import { b64, putHeader, randomId, requestLine, writePutStream, type StreamInfo } from "./stream.ts";
import { markdownTable, type SectionResult } from "./table.ts";

const MB = 1e6;

interface StreamRun { ms: number; replies: number; errors: string[]; stderr: string; code: number }

/** Feeds a pre-generated stream file as stdin; times spawn to exit; counts the replies. */
async function runStream(plugin: string, cacheDir: string, stream: StreamInfo): Promise<StreamRun> {
  const t0 = performance.now();
  const proc = Bun.spawn([plugin, "--cache-dir", cacheDir], { stdin: Bun.file(stream.path), stdout: "pipe", stderr: "pipe" });
  const exited = proc.exited.then((code) => ({ code, ms: performance.now() - t0 }));
  const stderrP = new Response(proc.stderr).text();
  const lines = new LineReader(proc.stdout);
  let replies = 0;
  const errors: string[] = [];
  for (let l = await lines.next(); l !== undefined; l = await lines.next()) {
    if (!l) continue;
    replies++;
    if (l.includes('"Err"') && errors.length < 3) errors.push(l.slice(0, 200));
  }
  const [{ code, ms }, stderr] = await Promise.all([exited, stderrP]);
  return { ms, replies, errors, stderr, code };
}

function checkRun(r: StreamRun, stream: StreamInfo, what: string): void {
  const expected = stream.puts + 2; // capability line + puts + close
  if (r.code !== 0 || r.errors.length > 0 || r.replies !== expected) {
    throw new Error(`${what}: exit ${r.code}, ${r.replies}/${expected} replies, errors ${r.errors.join(" | ")}\n${r.stderr.slice(-2000)}`);
  }
}

export interface PutOptions {
  smallCount: number;
  smallSize: number;
  largeCount: number;
  largeSize: number;
  runs: number;
  targetMBps: number;
}

export async function benchPuts(plugin: string, o: PutOptions, log: (l: string) => void): Promise<SectionResult> {
  const dir = tempDir("puts");
  const small = await writePutStream(join(dir, "small.stream"), o.smallCount, o.smallSize);
  const large = await writePutStream(join(dir, "large.stream"), o.largeCount, o.largeSize);
  log(`  streams: small ${(small.streamBytes / MB).toFixed(1)} MB, large ${(large.streamBytes / MB).toFixed(1)} MB`);

  const smallMs: number[] = [];
  const largeMs: number[] = [];
  // Dirty pages from earlier writes make the kernel throttle ours: flush them
  // first, and delete each run's store at once (dropping its dirty pages).
  await run(["sync"]);
  const once = async (stream: StreamInfo, what: string) => {
    const cacheDir = tempDir("puts-cache");
    const r = await runStream(plugin, cacheDir, stream);
    removeTree(cacheDir);
    checkRun(r, stream, what);
    return r;
  };
  const floorMs: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    floorMs.push(fsFloor(small.puts, o.smallSize));
    const rs = await once(small, "small puts");
    smallMs.push(rs.ms);
    const rl = await once(large, "large puts");
    largeMs.push(rl.ms);
    log(`  run ${i + 1}: small ${rs.ms.toFixed(0)} ms (file-system floor ${floorMs.at(-1)!.toFixed(0)} ms), large ${rl.ms.toFixed(0)} ms`);
  }
  const fMs = median(floorMs);
  const sMs = median(smallMs);
  const lMs = median(largeMs);
  const putsPerSec = small.puts / (sMs / 1000);
  const mbps = large.bodyBytes / MB / (lMs / 1000);
  const smallLabel = `${small.puts} x ${o.smallSize / 1024} KiB puts`;
  const largeLabel = `${large.puts} x ${o.largeSize / (1 << 20)} MiB puts`;
  const table = markdownTable(
    ["stream", "runs", "median time (spawn to exit)", "throughput"],
    [
      [smallLabel, `${o.runs}`, `${sMs.toFixed(0)} ms`, `${putsPerSec.toFixed(0)} puts/s (${((small.bodyBytes / MB) / (sMs / 1000)).toFixed(1)} MB/s of bodies)`],
      [`file-system floor: the same ${small.puts * 2} files, plain loop`, `${o.runs}`, `${fMs.toFixed(0)} ms`, `${(small.puts / (fMs / 1000)).toFixed(0)} puts/s`],
      [largeLabel, `${o.runs}`, `${lMs.toFixed(0)} ms`, `${mbps.toFixed(0)} MB/s of decoded body (${(large.streamBytes / MB / (lMs / 1000)).toFixed(0)} MB/s of stream)`],
    ],
  );
  return {
    title: "put throughput",
    table,
    notes: [
      `puts: small stream ${sMs.toFixed(0)} ms median, large stream ${lMs.toFixed(0)} ms median; runs small ${smallMs.map((x) => x.toFixed(0)).join(", ")}, large ${largeMs.map((x) => x.toFixed(0)).join(", ")}`,
      `puts: file-system floor (create, write, close, rename an object and an action file per put, in-process, no protocol): ${floorMs.map((x) => x.toFixed(0)).join(", ")} ms; small puts are bound by file creation on this disk, so compare the ratio, not the absolute rate`,
    ],
    rows: [
      {
        measure: `put throughput, ${smallLabel}`,
        value: `${putsPerSec.toFixed(0)} puts/s`,
        reference: `fs floor ${(small.puts / (fMs / 1000)).toFixed(0)} puts/s`,
        ratio: fmtRatio(fMs / sMs),
        target: "",
      },
      { measure: `put throughput, ${largeLabel}`, value: `${mbps.toFixed(0)} MB/s`, reference: "", ratio: "", target: `>= ${o.targetMBps} MB/s`, met: mbps >= o.targetMBps },
    ],
  };
}

/**
 * What the file system alone charges for `count` small puts: per put, an
 * object and an action record, each created under a temporary name in a
 * sharded directory, written, closed and renamed, as the local store does.
 * Returns milliseconds; the files are removed afterwards.
 */
function fsFloor(count: number, size: number): number {
  const dir = tempDir("fs-floor");
  const body = randomBytes(size);
  const record = Buffer.alloc(90, 0x61);
  const made = new Set<string>();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const id = randomBytes(32).toString("hex");
    for (const [kind, data, mode] of [["o", body, 0o755], ["a", record, 0o644]] as const) {
      const shard = `${dir}/${kind}/${id.slice(0, 2)}`;
      if (!made.has(shard)) {
        mkdirSync(shard, { recursive: true });
        made.add(shard);
      }
      const tmp = `${shard}/${id}.tmp`;
      const fd = openSync(tmp, "wx", mode);
      writeSync(fd, data);
      closeSync(fd);
      renameSync(tmp, `${shard}/${id}`);
    }
  }
  const ms = performance.now() - t0;
  removeTree(dir);
  return ms;
}

/** Writes a string to a piped stdin and waits until it left our buffer. */
async function send(sink: Bun.FileSink, data: string | Uint8Array): Promise<void> {
  sink.write(data);
  await sink.flush();
}

/** Next non-blank line. */
async function nextReply(lines: LineReader): Promise<string> {
  for (;;) {
    const l = await lines.next();
    if (l === undefined) throw new Error("unexpected end of output");
    if (l.trim()) return l;
  }
}

export async function benchRss(plugin: string, sizeBytes: number, targetMB: number): Promise<SectionResult> {
  const body = randomBytes(sizeBytes);
  const proc = Bun.spawn([plugin, "--cache-dir", tempDir("rss-cache")], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const stderrP = new Response(proc.stderr).text();
  const lines = new LineReader(proc.stdout);
  try {
    await nextReply(lines); // capability line
    const idle = procMemory(proc.pid);
    await send(proc.stdin, putHeader(1, randomId(), body) + '"');
    const chunk = 3 << 20; // a multiple of 3: chunks encode independently
    for (let off = 0; off < body.length; off += chunk) await send(proc.stdin, b64(body.subarray(off, off + chunk)));
    await send(proc.stdin, '"\n');
    const reply = await nextReply(lines);
    if (!reply.startsWith('{"ID":1') || reply.includes('"Err"')) throw new Error(`unexpected reply to the put: ${reply}`);
    const mem = procMemory(proc.pid);
    await send(proc.stdin, requestLine({ ID: 2, Command: "close" }));
    proc.stdin.end();
    await lines.drain();
    const code = await proc.exited;
    if (code !== 0) throw new Error(`plugin exited ${code}: ${await stderrP}`);
    const peak = mem.hwm / MB;
    const table = markdownTable(
      ["moment", "VmHWM (peak RSS)", "VmRSS"],
      [
        ["after the capability line", `${(idle.hwm / MB).toFixed(1)} MB`, `${(idle.rss / MB).toFixed(1)} MB`],
        [`after a ${sizeBytes / (1 << 20)} MiB put was answered`, `${peak.toFixed(1)} MB`, `${(mem.rss / MB).toFixed(1)} MB`],
      ],
    );
    return {
      title: "peak RSS",
      table,
      notes: [`rss: idle VmHWM ${(idle.hwm / MB).toFixed(1)} MB, after the put ${peak.toFixed(1)} MB (VmRSS then ${(mem.rss / MB).toFixed(1)} MB)`],
      rows: [{
        measure: `peak RSS (VmHWM) around a ${sizeBytes / (1 << 20)} MiB put`,
        value: `${peak.toFixed(1)} MB`,
        reference: `idle ${(idle.hwm / MB).toFixed(1)} MB`,
        ratio: fmtRatio(peak / (idle.hwm / MB)),
        target: `< ${targetMB} MB`,
        met: peak < targetMB,
      }],
    };
  } finally {
    proc.kill();
    await proc.exited;
  }
}

/**
 * Diagnostic: a get hit's round trip (write one request, wait for its reply)
 * against the same round trip through the minimal Go helper (bench/refprog,
 * same store) and through `cat`, which echoes without doing anything (the
 * floor of this harness and the pipes).
 */
export async function benchGets(plugin: string, count: number, refprog?: string): Promise<SectionResult> {
  const dir = tempDir("gets");
  const cacheDir = tempDir("gets-cache");
  const stream = await writePutStream(join(dir, "populate.stream"), count, 1024);
  checkRun(await runStream(plugin, cacheDir, stream), stream, "populating for gets");
  const gets = stream.actionIds.map((a, i) => requestLine({ ID: i + 1, Command: "get", ActionID: a }));

  const hit = (l: string) => {
    if (!l.includes('"DiskPath"')) throw new Error(`expected a hit, got ${l}`);
  };
  const specs: Array<{ name: string; cmd: string[]; capability: boolean; check: (l: string) => void }> = [
    { name: "go-cache-plugin (get hit)", cmd: [plugin, "--cache-dir", cacheDir], capability: true, check: hit },
    ...(refprog ? [{ name: "minimal Go helper, bench/refprog (get hit)", cmd: [refprog, cacheDir], capability: true, check: hit }] : []),
    { name: "cat (echo, no work)", cmd: ["cat"], capability: false, check: () => {} },
  ];
  const peers = await Promise.all(specs.map(async (spec) => {
    const proc = Bun.spawn(spec.cmd, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const lines = new LineReader(proc.stdout);
    const stderr = new Response(proc.stderr).text();
    if (spec.capability) await nextReply(lines);
    return { ...spec, proc, lines, stderr, seq: [] as number[], batchUs: 0 };
  }));
  // One at a time, the peers taking turns per request so that drift hits all alike.
  for (const g of gets) {
    for (const peer of peers) {
      const t0 = performance.now();
      await send(peer.proc.stdin, g);
      peer.check(await nextReply(peer.lines));
      peer.seq.push((performance.now() - t0) * 1000);
    }
  }
  for (const peer of peers) {
    const t0 = performance.now();
    // Read while writing: a peer blocked on a full stdout stops reading its stdin.
    const replies = (async () => {
      for (let i = 0; i < gets.length; i++) peer.check(await nextReply(peer.lines));
    })();
    await send(peer.proc.stdin, gets.join(""));
    await replies;
    peer.batchUs = ((performance.now() - t0) * 1000) / gets.length;
    peer.proc.stdin.end();
    await Promise.all([peer.lines.drain(), peer.stderr, peer.proc.exited]);
  }
  const us = (x: number) => `${x.toFixed(0)} us`;
  const table = markdownTable(
    ["peer", "requests", "one at a time: median (p10 / p90)", "pipelined: per request"],
    peers.map((x) => [x.name, `${count}`, `${us(median(x.seq))} (${us(quantile(x.seq, 0.1))} / ${us(quantile(x.seq, 0.9))})`, us(x.batchUs)]),
  );
  const pm = median(peers[0]!.seq);
  const refPeer = peers[1]!;
  const ref = { name: refprog ? "Go helper" : "cat echo", ms: median(refPeer.seq) };
  return {
    title: "get round trip (diagnostic)",
    table,
    notes: [`gets: one-at-a-time round trip ${peers.map((x) => `${x.name} ${us(median(x.seq))}`).join(", ")}; pipelined per request ${peers.map((x) => `${x.name} ${us(x.batchUs)}`).join(", ")}`],
    rows: [{ measure: "get hit round trip, one at a time (diagnostic)", value: us(pm), reference: `${ref.name} ${us(ref.ms)}`, ratio: fmtRatio(pm / ref.ms), target: "" }],
  };
}
