import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { RequestReader, type ReaderOptions, type RequestHandler } from "../../src/protocol/reader.ts";
import type { Request } from "../../src/protocol/messages.ts";

interface Event { kind: "request" | "body" | "malformed" | "violation"; req?: Request; bytes?: number; hash?: string; error?: string; id?: number; message?: string }

function collect(opts?: ReaderOptions) {
  const events: Event[] = [];
  const handler: RequestHandler = {
    request: (req) => void events.push({ kind: "request", req }),
    body: (req) => {
      const h = createHash("sha256");
      let n = 0;
      return {
        write: (b) => { n += b.length; h.update(b); },
        end: (error) => void events.push({ kind: "body", req, bytes: n, hash: h.digest("hex"), error }),
      };
    },
    malformed: (message, id) => void events.push({ kind: "malformed", message, id }),
    violation: (message) => void events.push({ kind: "violation", message }),
  };
  return { events, reader: new RequestReader(handler, opts) };
}

/** Feeds `text` to `reader` `step` bytes at a time (all at once when step is 0). */
function feed(reader: RequestReader, text: string, step = 0) {
  const all = enc(text);
  if (step === 0) return reader.push(all);
  for (let i = 0; i < all.length; i += step) reader.push(all.subarray(i, i + step));
}

const enc = (s: string) => new TextEncoder().encode(s);
const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
const bodyLine = `"${body.toString("base64")}"\n`;
const putLine = `{"ID":2,"Command":"put","ActionID":"x","OutputID":"y","BodySize":${body.length}}\n\n`;
const stream = `{"ID":1,"Command":"get","ActionID":"a"}\n\n${putLine}${bodyLine}{"ID":3,"Command":"close"}\n\n`;

describe("RequestReader", () => {
  test("reads requests, skips blank lines and decodes a body", () => {
    const { events, reader } = collect();
    reader.push(enc(stream));
    expect(reader.end()).toBeUndefined();
    expect(events.map((e) => e.kind)).toEqual(["request", "body", "request"]);
    expect(events[1]!.bytes).toBe(body.length);
    expect(events[1]!.hash).toBe(createHash("sha256").update(body).digest("hex"));
    expect(events[1]!.error).toBeUndefined();
    expect(events[2]!.req!.Command).toBe("close");
  });

  test.each([1, 2, 3, 5, 7, 64, 1000])("gives the same result when fed %i bytes at a time", (step) => {
    const { events, reader } = collect();
    const all = enc(stream);
    for (let i = 0; i < all.length; i += step) reader.push(all.subarray(i, i + step));
    reader.end();
    expect(events.map((e) => e.kind)).toEqual(["request", "body", "request"]);
    expect(events[1]!.bytes).toBe(body.length);
    expect(events[1]!.hash).toBe(createHash("sha256").update(body).digest("hex"));
  });

  test.each([
    ["malformed JSON with a recoverable ID", `{"ID":7,"Command":"get",\n\n`, { kind: "malformed", id: 7 }],
    ["a line that is not JSON at all", `hello there\n`, { kind: "malformed", id: undefined }],
    ["a JSON value that is not an object", `[1,2]\n`, { kind: "malformed", id: undefined }],
    ["a request without an ID", `{"Command":"get"}\n`, { kind: "malformed", id: undefined }],
    ["a body line with no put before it", `"aGVsbG8="\n`, { kind: "malformed", id: undefined }],
  ])("reports %s and keeps reading", (_name, bad, expected) => {
    const { events, reader } = collect();
    reader.push(enc(`${bad}{"ID":9,"Command":"close"}\n\n`));
    expect(events[0]).toMatchObject(expected);
    expect(events.at(-1)!.req!.ID).toBe(9);
  });

  test.each([
    ["bad base64 characters", `"AAAA*AAA"\n`, /bad base64/],
    ["truncated base64", `"AAAAAA"\n`, /truncated base64/],
    ["a missing body", `{"ID":9,"Command":"close"}\n\n`, /expected the body/],
  ])("fails the put on %s and resynchronises", (_name, after, error) => {
    const { events, reader } = collect();
    reader.push(enc(`{"ID":2,"Command":"put","ActionID":"x","OutputID":"y","BodySize":6}\n\n${after}{"ID":9,"Command":"close"}\n\n`));
    const bodyEvent = events.find((e) => e.kind === "body")!;
    expect(bodyEvent.error).toMatch(error);
    expect(events.at(-1)!.req!.ID).toBe(9);
  });

  // Direct mode reads into one buffer it reuses, and a socket's data may be a Node Buffer (whose slice() is a view):
  // a line split across chunks must survive the next chunk overwriting the buffer.
  test.each([[1, "Uint8Array"], [5, "Uint8Array"], [64, "Uint8Array"], [7, "Buffer"], [333, "Buffer"]] as const)(
    "a reused %i-byte %s buffer gives the same result",
    (step, kind) => {
      const { events, reader } = collect();
      const all = enc(stream);
      const buf = kind === "Buffer" ? Buffer.alloc(step) : new Uint8Array(step);
      for (let i = 0; i < all.length; i += step) {
        const n = Math.min(step, all.length - i);
        buf.set(all.subarray(i, i + n));
        reader.push(buf.subarray(0, n));
        buf.fill(0x21); // what the next read would leave there
      }
      reader.end();
      expect(events.map((e) => e.kind)).toEqual(["request", "body", "request"]);
      expect(events[0]!.req!.Command).toBe("get");
      expect(events[1]!.hash).toBe(createHash("sha256").update(body).digest("hex"));
      expect(events[2]!.req!.Command).toBe("close");
    },
  );

  test("end of input inside a body is reported", () => {
    const { events, reader } = collect();
    reader.push(enc(`${putLine}"AAAA`));
    expect(reader.end()).toMatch(/ended in the middle of the body of put 2/);
    expect(events[0]!.error).toMatch(/input ended/);
  });

  test("a put with BodySize 0 has no body line", () => {
    const { events, reader } = collect();
    reader.push(enc(`{"ID":4,"Command":"put","ActionID":"x","OutputID":"y","BodySize":0}\n\n{"ID":5,"Command":"close"}\n\n`));
    expect(events.map((e) => [e.kind, e.req?.ID])).toEqual([["request", 4], ["request", 5]]);
  });

  test("a final line without a newline is still read at end of input", () => {
    const { events, reader } = collect();
    reader.push(enc(`{"ID":5,"Command":"close"}`));
    reader.end();
    expect(events[0]!.req!.ID).toBe(5);
  });
});

const kinds = (events: Event[]) => events.map((e) => e.kind);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const getLine = (id: number) => `{"ID":${id},"Command":"get","ActionID":"a"}\n\n`;
/** A valid stream (get 11, put 12 with its body, close 13) to follow a bad line: none of it may be delivered. */
const validTail = `${getLine(11)}${putLine.replace('"ID":2', '"ID":12')}${bodyLine}{"ID":13,"Command":"close"}\n\n`;
/** Chunkings of every strict-mode stream: all at once, and 1 and 5 bytes at a time. */
const STEPS = [0, 1, 5];
/** Each row once per chunking, its name (first column) saying which. */
const cross = <T extends [string, ...unknown[]]>(rows: T[]) =>
  rows.flatMap((r) => STEPS.map((step) => [`${r[0]} (${step ? `${step} bytes at a time` : "one chunk"})`, ...r.slice(1), step] as [string, ...unknown[]] as [...T, number]));

describe("RequestReader, strict mode (sockets)", () => {
  test.each(STEPS)("reads a valid stream like the non-strict reader (fed %i bytes at a time; 0: at once)", (step) => {
    const { events, reader } = collect({ strict: true });
    feed(reader, stream, step);
    expect(reader.end()).toBeUndefined();
    expect(reader.stopped).toBe(false);
    expect(kinds(events)).toEqual(["request", "body", "request"]);
    expect(events[1]!.bytes).toBe(body.length);
    expect(events[1]!.hash).toBe(sha(body));
    expect(events[1]!.error).toBeUndefined();
  });

  test.each(cross([
    ["an HTTP request line", "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}", /first line is not a protocol request/],
    ["an HTTP GET", "GET /metrics HTTP/1.1\r\n\r\n", /first line is not a protocol request/],
    ["a JSON object with an unknown Command", `{"ID":1,"Command":"list"}\n\n`, /first line is not a protocol request \(not a protocol request\)/],
    ["a JSON object without a Command", `{"ID":1,"ActionID":"a"}\n\n`, /first line is not a protocol request/],
    ["a JSON object without an ID", `{"Command":"get","ActionID":"a"}\n\n`, /first line is not a protocol request \(no numeric ID\)/],
    ["a bare JSON array", `[{"ID":1,"Command":"get"}]\n\n`, /first line is not a protocol request/],
    ["a bare JSON number", `42\n\n`, /first line is not a protocol request/],
    ["malformed JSON", `{"ID":1,"Command":"get",\n\n`, /first line is not a protocol request/],
    // Split, its first byte (a quote) already gives it away.
    ["a body line", `"aGVsbG8="\n`, /body line without a put request|first line is not a protocol request/],
    ["leading blank lines, then plain text", `\n\r\n  hello\n`, /first line is not a protocol request/],
  ]))("a first line that is %s stops the reader; nothing after it is delivered", (_name, bad, message, step) => {
    const { events, reader } = collect({ strict: true });
    feed(reader, bad + validTail, step);
    expect(kinds(events)).toEqual(["violation"]);
    expect(events[0]!.message).toMatch(message);
    expect(reader.stopped).toBe(true);
    // Stopped for good: more input, even a valid stream, and the end of input change nothing.
    feed(reader, validTail);
    expect(reader.end()).toBeUndefined();
    expect(kinds(events)).toEqual(["violation"]);
  });

  test("a first line is judged by its first byte, before its newline arrives", () => {
    const { events, reader } = collect({ strict: true });
    reader.push(enc("P"));
    expect(kinds(events)).toEqual(["violation"]);
    expect(reader.stopped).toBe(true);
  });

  test.each(cross([
    ["plain text", "hello there\n", /malformed request line/],
    ["an HTTP request line", "POST / HTTP/1.1\r\n", /malformed request line/],
    ["malformed JSON", `{"ID":5,"Command":\n\n`, /malformed request line/],
    ["a bare JSON array", `[1,2]\n\n`, /malformed request line \(not an object\)/],
    ["a request without an ID", `{"Command":"get"}\n\n`, /malformed request line \(no numeric ID\)/],
    ["a stray body line", `"aGVsbG8="\n`, /body line without a put request/],
  ]))("a later line that is %s stops the reader", (_name, bad, message, step) => {
    const { events, reader } = collect({ strict: true });
    feed(reader, getLine(1) + bad + validTail, step);
    expect(events.map((e) => [e.kind, e.req?.ID])).toEqual([["request", 1], ["violation", undefined]]);
    expect(events[1]!.message).toMatch(message);
    expect(reader.stopped).toBe(true);
    expect(reader.end()).toBeUndefined();
    expect(events).toHaveLength(2);
  });

  test("a stray body line right after a complete put stops the reader", () => {
    const { events, reader } = collect({ strict: true });
    feed(reader, putLine + bodyLine + bodyLine + validTail);
    expect(kinds(events)).toEqual(["body", "violation"]);
    expect(events[0]!.error).toBeUndefined();
    expect(events[0]!.hash).toBe(sha(body));
    expect(events[1]!.message).toMatch(/body line without a put request/);
  });

  test("after the first request an unknown Command is a request (answered with Err by the session), not a violation", () => {
    const { events, reader } = collect({ strict: true });
    feed(reader, `${getLine(1)}{"ID":2,"Command":"list"}\n\n{"ID":3,"Command":"close"}\n\n`);
    expect(events.map((e) => [e.kind, e.req?.Command])).toEqual([["request", "get"], ["request", "list"], ["request", "close"]]);
    expect(reader.stopped).toBe(false);
  });

  test.each(cross([
    ["bad base64 characters", `"AAAA*AAA"\n`],
    ["truncated base64", `"AAAAAA"\n`],
    ["a non-ASCII byte", `"AAAA\u00e9AAA"\n`],
  ]))("%s in a put body stop the reader and end the body sink with an error", (_name, badBody, step) => {
    const { events, reader } = collect({ strict: true });
    feed(reader, `${getLine(1)}{"ID":2,"Command":"put","ActionID":"x","OutputID":"y","BodySize":6}\n\n${badBody}${validTail}`, step);
    expect(kinds(events)).toEqual(["request", "body", "violation"]);
    expect(events[1]!.req!.ID).toBe(2);
    expect(events[1]!.error).toBeString();
    expect(events[1]!.error).not.toBe("");
    expect(events[2]!.message).toMatch(/bad base64 in put body/);
    expect(reader.stopped).toBe(true);
    expect(reader.end()).toBeUndefined();
    expect(events).toHaveLength(3); // the sink is ended exactly once
  });

  test.each(STEPS)("a put whose body is missing stops the reader and ends its sink with an error (step %i)", (step) => {
    const { events, reader } = collect({ strict: true });
    feed(reader, `${putLine}{"ID":9,"Command":"close"}\n\n${validTail}`, step);
    expect(kinds(events)).toEqual(["body", "violation"]);
    expect(events[0]!.error).toBeString();
    expect(events[1]!.message).toMatch(/expected the body of put 2/);
    expect(reader.stopped).toBe(true);
  });

  test("a request line longer than 1 MiB stops the reader without buffering it", () => {
    const { events, reader } = collect({ strict: true });
    feed(reader, getLine(1));
    const filler = enc(`{"ID":2,"Command":"get","ActionID":"${"a".repeat(64 * 1024)}`);
    for (let i = 0; i < 20 && !reader.stopped; i++) reader.push(filler);
    expect(kinds(events)).toEqual(["request", "violation"]);
    expect(events[1]!.message).toMatch(/longer than 1048576 bytes/);
  });
});

describe("RequestReader.abort()", () => {
  test.each([false, true])("mid-body ends the sink with an error and ignores all later input (strict: %p)", (strict) => {
    const { events, reader } = collect({ strict });
    const half = bodyLine.length >> 1;
    feed(reader, getLine(1) + putLine + bodyLine.slice(0, half));
    expect(kinds(events)).toEqual(["request"]); // the body is still open
    reader.abort();
    expect(kinds(events)).toEqual(["request", "body"]);
    expect(events[1]!.error).toMatch(/connection closed/);
    expect(events[1]!.bytes).toBeLessThan(body.length);
    expect(reader.stopped).toBe(true);
    feed(reader, bodyLine.slice(half) + validTail);
    expect(reader.end()).toBeUndefined(); // not "input ended in the middle of a put body"
    reader.abort(); // twice is harmless: the sink is not ended again
    expect(kinds(events)).toEqual(["request", "body"]);
    expect(events.filter((e) => e.kind === "violation")).toEqual([]);
  });

  test.each([false, true])("between requests delivers nothing more, not even a line already buffered (strict: %p)", (strict) => {
    const { events, reader } = collect({ strict });
    feed(reader, `${getLine(1)}{"ID":2,"Command":"get"`); // a request line cut in the middle
    reader.abort();
    feed(reader, `,"ActionID":"a"}\n\n${validTail}`);
    expect(reader.end()).toBeUndefined();
    expect(events.map((e) => [e.kind, e.req?.ID])).toEqual([["request", 1]]);
  });
});

describe("RequestReader, non-strict mode is unchanged", () => {
  test.each([
    ["an HTTP request line", "POST / HTTP/1.1\r\n"],
    ["a JSON object with an unknown Command", `{"ID":1,"Command":"list"}\n\n`],
    ["a bare JSON array", `[1,2]\n\n`],
    ["a stray body line", `"aGVsbG8="\n`],
  ])("a first line that is %s never stops a non-strict reader: it is skipped (or, valid JSON, delivered) and the stream goes on", (_name, bad) => {
    const { events, reader } = collect();
    feed(reader, bad + validTail);
    reader.end();
    expect(reader.stopped).toBe(false);
    expect(events.filter((e) => e.kind === "violation")).toEqual([]);
    // An unknown command in valid JSON is a request (the session answers Err); the rest are malformed lines.
    const delivered = events.filter((e) => e.kind !== "malformed").map((e) => [e.kind, e.req?.ID]);
    expect(delivered.slice(-3)).toEqual([["request", 11], ["body", 12], ["request", 13]]);
    expect(events.find((e) => e.kind === "body")!.hash).toBe(sha(body));
  });

  test("bad base64 fails only that put; the next request is still read", () => {
    const { events, reader } = collect();
    feed(reader, `{"ID":2,"Command":"put","ActionID":"x","OutputID":"y","BodySize":6}\n\n"AAAA*AAA"\n${validTail}`);
    expect(reader.stopped).toBe(false);
    expect(events.map((e) => [e.kind, e.req?.ID])).toEqual([["body", 2], ["request", 11], ["body", 12], ["request", 13]]);
    expect(events[0]!.error).toMatch(/bad base64/);
  });
});

describe("strict reader: what follows a body, and stops from inside a handler", () => {
  const putHead = `{"ID":1,"Command":"put","ActionID":"x","OutputID":"y","BodySize":3}\n\n`;
  test.each([0, 1, 5])("text after a body's closing quote on its line stops the reader (step %d)", (step) => {
    const { events, reader } = collect({ strict: true });
    feed(reader, `${putHead}"AAAA"POST / HTTP/1.1\n{"ID":2,"Command":"close"}\n\n`, step);
    expect(reader.stopped).toBe(true);
    expect(events.some((e) => e.kind === "request")).toBe(false);
  });

  test("white space after the closing quote is fine", () => {
    const { events, reader } = collect({ strict: true });
    feed(reader, `${putHead}"AAAA" \r\n{"ID":2,"Command":"close"}\n\n`);
    expect(reader.stopped).toBe(false);
    expect(events.map((e) => e.kind)).toEqual(["body", "request"]);
  });

  test("an abort() from a body sink's end is not undone", () => {
    const seen: string[] = [];
    let reader!: RequestReader;
    reader = new RequestReader({
      request: (r) => void seen.push(`req ${r.ID}`),
      body: () => ({ write() {}, end: () => { seen.push("body"); reader.abort(); } }),
      malformed: () => {},
    }, { strict: true });
    reader.push(enc(`${putHead}"AAAA"\n{"ID":2,"Command":"close"}\n\n`));
    expect(seen).toEqual(["body"]);
    expect(reader.stopped).toBe(true);
  });

  test("a body sink that fails on bad base64 is told why", () => {
    let why: string | undefined;
    const reader = new RequestReader({ request() {}, body: () => ({ write() {}, end: (e) => { why = e; } }), malformed() {} }, { strict: true });
    reader.push(enc(`${putHead}"A*AA"\n`));
    expect(why).toContain("base64");
  });
});
