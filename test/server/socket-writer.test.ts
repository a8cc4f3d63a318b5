/** BufferedSocketWriter (src/server/socket-writer.ts) over a fake socket that takes a few bytes per write. */
import { describe, expect, test } from "bun:test";
import { BufferedSocketWriter, type WritableSocket } from "../../src/server/socket-writer.ts";

/** Accepts at most `perWrite` bytes per write() call (0: none, as a full kernel buffer), records them in order. */
class FakeSocket implements WritableSocket {
  readonly received: number[] = [];
  calls = 0;
  constructor(public perWrite: number, public result?: number) {}
  write(data: Uint8Array): number {
    this.calls++;
    if (this.result !== undefined) return this.result; // e.g. -1: closed
    const n = Math.min(this.perWrite, data.length);
    for (const b of data.subarray(0, n)) this.received.push(b);
    return n;
  }
}

/** `n` bytes counting up from `start` (mod 256), so order and loss both show. */
const bytes = (n: number, start = 0) => Uint8Array.from({ length: n }, (_, i) => (start + i) % 256);

/** Whether a promise has settled, after letting pending reactions run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

describe("BufferedSocketWriter", () => {
  test("passes writes straight through while the socket takes everything", () => {
    const sock = new FakeSocket(1 << 20);
    const w = new BufferedSocketWriter(sock);
    w.write(bytes(10));
    w.write(bytes(5, 10));
    expect(w.backlogBytes).toBe(0);
    expect(sock.received).toEqual([...bytes(15)]);
  });

  test("queues what the socket did not take and counts it", () => {
    const sock = new FakeSocket(3);
    const w = new BufferedSocketWriter(sock);
    w.write(bytes(10));
    expect(sock.received).toEqual([0, 1, 2]);
    expect(w.backlogBytes).toBe(7);
    // With a backlog, later writes queue behind it without touching the socket (order).
    const calls = sock.calls;
    w.write(bytes(5, 10));
    expect(sock.calls).toBe(calls);
    expect(w.backlogBytes).toBe(12);
  });

  test.each([
    [1, [1, 2, 3]],
    [3, [10, 1, 7]],
    [4, [5, 4, 4, 4]],
    [64, [100, 3, 250, 1]],
    [0, [8, 8]], // a full socket: nothing goes until it takes bytes again
  ])("drain() delivers everything in order, %i bytes per socket write, writes of %p bytes", (perWrite, sizes) => {
    const sock = new FakeSocket(perWrite);
    const w = new BufferedSocketWriter(sock);
    const all: number[] = [];
    for (const size of sizes) {
      const chunk = bytes(size, all.length);
      all.push(...chunk);
      w.write(chunk);
      expect(w.backlogBytes).toBe(all.length - sock.received.length);
    }
    if (perWrite === 0) {
      w.drain();
      expect(sock.received).toEqual([]);
      expect(w.backlogBytes).toBe(all.length);
      sock.perWrite = 5;
    }
    // Each drain() is one "the socket is writable again" event.
    for (let i = 0; w.backlogBytes > 0; i++) {
      const before = w.backlogBytes;
      w.drain();
      expect(w.backlogBytes).toBeLessThan(before);
      expect(w.backlogBytes).toBe(all.length - sock.received.length);
      expect(i).toBeLessThan(all.length); // no endless loop
    }
    expect(sock.received).toEqual(all);
    // A drain with nothing queued writes nothing.
    const calls = sock.calls;
    w.drain();
    expect(sock.calls).toBe(calls);
  });

  test("a socket that takes everything again empties the whole backlog in one drain()", () => {
    const sock = new FakeSocket(2);
    const w = new BufferedSocketWriter(sock);
    for (let i = 0; i < 5; i++) w.write(bytes(10, i * 10));
    sock.perWrite = 1 << 20;
    w.drain();
    expect(w.backlogBytes).toBe(0);
    expect(sock.received).toEqual([...bytes(50)]);
  });

  test("a closed socket (write returns -1) keeps the whole write queued", () => {
    const sock = new FakeSocket(0, -1);
    const w = new BufferedSocketWriter(sock);
    w.write(bytes(10));
    expect(w.backlogBytes).toBe(10);
    w.drain();
    expect(w.backlogBytes).toBe(10);
  });

  test("whenBelow resolves at once when the backlog is already at most the limit", async () => {
    const w = new BufferedSocketWriter(new FakeSocket(4));
    expect(await settled(w.whenBelow(0))).toBe(true);
    w.write(bytes(10)); // 6 queued
    expect(await settled(w.whenBelow(6))).toBe(true);
    expect(await settled(w.whenBelow(5))).toBe(false);
  });

  test("whenBelow resolves each waiter once drain() brings the backlog to its limit, not before", async () => {
    const sock = new FakeSocket(10);
    const w = new BufferedSocketWriter(sock);
    w.write(bytes(100)); // 90 queued
    const below60 = w.whenBelow(60);
    const below20 = w.whenBelow(20);
    const below0 = w.whenBelow(0);
    const seen = () => Promise.all([settled(below60), settled(below20), settled(below0)]);
    expect(await seen()).toEqual([false, false, false]);
    w.drain(); w.drain(); // 70
    expect(w.backlogBytes).toBe(70);
    expect(await seen()).toEqual([false, false, false]);
    w.drain(); // 60
    expect(await seen()).toEqual([true, false, false]);
    w.drain(); w.drain(); w.drain(); w.drain(); // 20
    expect(await seen()).toEqual([true, true, false]);
    w.drain(); w.drain(); // 0
    expect(w.backlogBytes).toBe(0);
    expect(await seen()).toEqual([true, true, true]);
    expect(sock.received).toEqual([...bytes(100)]);
  });

  test("discard() empties the backlog, releases the waiters and sends nothing more", async () => {
    const sock = new FakeSocket(3);
    const w = new BufferedSocketWriter(sock);
    w.write(bytes(30));
    const waiter = w.whenBelow(0);
    expect(await settled(waiter)).toBe(false);
    w.discard();
    expect(w.backlogBytes).toBe(0);
    expect(await settled(waiter)).toBe(true);
    w.drain();
    expect(sock.received).toEqual([0, 1, 2]);
    expect(await settled(w.whenBelow(0))).toBe(true);
  });

  test("afterFlush runs at once when nothing is queued, else once drain() has handed over the last byte", () => {
    const sock = new FakeSocket(4);
    const w = new BufferedSocketWriter(sock);
    let ran = 0;
    w.afterFlush(() => ran++);
    expect(ran).toBe(1);
    w.write(bytes(10));
    w.afterFlush(() => ran++);
    w.drain();
    expect(ran).toBe(1); // 2 bytes still queued
    w.drain();
    expect(ran).toBe(2);
    expect(sock.received).toEqual([...bytes(10)]);
    w.drain();
    expect(ran).toBe(2); // once only
  });
});

test("afterFlush keeps every callback registered while bytes wait", () => {
  const ran: string[] = [];
  const w = new BufferedSocketWriter({ write: (d) => Math.min(d.length, 2) });
  w.write(new Uint8Array(10));
  w.afterFlush(() => ran.push("a"));
  w.afterFlush(() => ran.push("b"));
  for (let i = 0; i < 10; i++) w.drain();
  expect(ran).toEqual(["a", "b"]);
});
