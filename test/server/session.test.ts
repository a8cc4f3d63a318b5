/** One protocol session in process, against a fake Cache: the command table, the answers, the ordering of close. */
import { describe, expect, test } from "bun:test";
import { Session, newSessionCounters } from "../../src/server/session.ts";
import { CAPABILITY_LINE, COMMANDS } from "../../src/protocol/commands.ts";
import { hexToId, type Response } from "../../src/protocol/messages.ts";
import type { Cache, Entry, PutRequest, PutSink } from "../../src/store/store.ts";
import { createLogger } from "../../src/log.ts";

const A = "a".repeat(64);
const O = "b".repeat(64);
const entry: Entry = { outputId: O, size: 3, timeNanos: 1_700_000_000_123_456_789n, diskPath: "/cache/o/bb" };

/** A Cache whose answers the test chooses; records what it was asked. */
function fakeCache(o: { get?: (id: string) => Entry | undefined | Promise<Entry | undefined>; commit?: (req: PutRequest, body: Uint8Array) => Entry | Promise<Entry> } = {}) {
  const calls: string[] = [];
  const cache: Cache = {
    get: (id) => (calls.push(`get ${id}`), (o.get ?? (() => undefined))(id)),
    put: (req): PutSink => {
      const parts: Uint8Array[] = [];
      return {
        write: (b) => void parts.push(b),
        abort: () => void calls.push(`abort ${req.actionId}`),
        commit: () => (calls.push(`commit ${req.actionId} ${req.size}`), (o.commit ?? (() => ({ ...entry, size: req.size })))(req, Buffer.concat(parts))),
      };
    },
    close: async () => {},
  };
  return { cache, calls };
}

function session(cache: Cache) {
  const sent: Response[] = [];
  const warnings: string[] = [];
  const s = new Session({ cache, send: (r) => void sent.push(r), log: createLogger({ verbose: false, debug: false, write: (l) => void warnings.push(l) }), counters: newSessionCounters() });
  return { s, sent, warnings };
}

const b64 = (hex: string) => hexToId(hex);
const tick = () => new Promise((r) => setTimeout(r, 5));

describe("the command table", () => {
  test("the capability line announces exactly the table's commands", () => {
    expect(JSON.parse(CAPABILITY_LINE)).toEqual({ ID: 0, KnownCommands: [...COMMANDS] });
    expect(CAPABILITY_LINE.endsWith("\n")).toBe(true);
  });

  test.each([...COMMANDS])("%s has a handler (it is never an unknown command)", (command) => {
    const { s, sent } = session(fakeCache().cache);
    s.request({ ID: 1, Command: command, ActionID: b64(A), OutputID: b64(O), BodySize: 0 });
    expect(sent.find((r) => r.Err?.includes("unknown command"))).toBeUndefined();
  });

  test.each(["frob", "__proto__", "constructor", "toString", "hasOwnProperty", ""])("%p is an unknown command: an Err, and the session goes on", (command) => {
    const f = fakeCache({ get: () => entry });
    const { s, sent } = session(f.cache);
    s.request({ ID: 7, Command: command });
    expect(sent).toEqual([{ ID: 7, Err: `unknown command ${JSON.stringify(command)}` }]);
    s.request({ ID: 8, Command: "get", ActionID: b64(A) });
    expect(sent[1]!.ID).toBe(8);
    expect(sent[1]!.OutputID).toBe(b64(O));
  });
});

describe("answers", () => {
  test.each([
    ["a hit", () => entry, { ID: 1, OutputID: b64(O), Size: 3, Time: "2023-11-14T22:13:20.123456789Z", DiskPath: "/cache/o/bb" }],
    ["a miss", () => undefined, { ID: 1, Miss: true }],
    ["an asynchronous hit", async () => entry, { ID: 1, OutputID: b64(O), Size: 3, Time: "2023-11-14T22:13:20.123456789Z", DiskPath: "/cache/o/bb" }],
    ["a cache that throws (a miss, never an Err: the build goes on)", () => { throw new Error("disk on fire"); }, { ID: 1, Miss: true }],
    ["a cache whose promise rejects", async () => { throw new Error("bucket on fire"); }, { ID: 1, Miss: true }],
  ])("get: %s", async (_name, get, want) => {
    const { s, sent } = session(fakeCache({ get: get as () => Entry | undefined }).cache);
    s.request({ ID: 1, Command: "get", ActionID: b64(A) });
    await tick();
    expect(sent).toEqual([want as Response]);
  });

  test.each([
    ["a missing ActionID", {}],
    ["an ActionID of the wrong length", { ActionID: Buffer.alloc(31).toString("base64") }],
  ])("get with %s is an Err and never reaches the cache", (_name, fields) => {
    const f = fakeCache();
    const { s, sent } = session(f.cache);
    s.request({ ID: 2, Command: "get", ...fields });
    expect(sent[0]!.Err).toMatch(/^get: /);
    expect(f.calls).toEqual([]);
  });

  test("put: the body goes to the sink, the answer carries the DiskPath; a failed commit is an Err", async () => {
    const f = fakeCache({ commit: (req, body) => (req.actionId === A && body.length === 3 ? { ...entry } : Promise.reject(new Error("digest mismatch"))) });
    const { s, sent } = session(f.cache);
    const sink = s.body({ ID: 3, Command: "put", ActionID: b64(A), OutputID: b64(O), BodySize: 3 });
    sink.write(new Uint8Array([1, 2, 3]));
    sink.end();
    const bad = s.body({ ID: 4, Command: "put", ActionID: b64("c".repeat(64)), OutputID: b64(O), BodySize: 3 });
    bad.write(new Uint8Array([1]));
    bad.end();
    await tick();
    expect(sent[0]).toEqual({ ID: 3, DiskPath: "/cache/o/bb" });
    expect(sent[1]).toEqual({ ID: 4, Err: "put: digest mismatch" });
  });

  test("put: a body that breaks off is aborted and answered with an Err", () => {
    const f = fakeCache();
    const { s, sent } = session(f.cache);
    const sink = s.body({ ID: 5, Command: "put", ActionID: b64(A), OutputID: b64(O), BodySize: 3 });
    sink.end("truncated body");
    expect(f.calls).toEqual([`abort ${A}`]);
    expect(sent).toEqual([{ ID: 5, Err: "put: truncated body" }]);
  });

  test("close is answered only after every earlier request; requests after it are Errs", async () => {
    let release!: (e: Entry) => void;
    const slow = new Promise<Entry>((r) => (release = r));
    const { s, sent } = session(fakeCache({ get: () => slow }).cache);
    s.request({ ID: 1, Command: "get", ActionID: b64(A) });
    s.request({ ID: 2, Command: "close" });
    s.request({ ID: 3, Command: "get", ActionID: b64(A) });
    await tick();
    expect(sent.map((r) => r.ID)).toEqual([3]);
    expect(sent[0]!.Err).toBe("get after close");
    release(entry);
    await tick();
    expect(sent.map((r) => r.ID)).toEqual([3, 1, 2]);
    expect(sent[2]).toEqual({ ID: 2 });
  });
});
