import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { RequestReader, type RequestHandler } from "../../src/protocol/reader.ts";
import type { Request } from "../../src/protocol/messages.ts";

interface Event { kind: "request" | "body" | "malformed"; req?: Request; bytes?: number; hash?: string; error?: string; id?: number; message?: string }

function collect() {
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
  };
  return { events, reader: new RequestReader(handler) };
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
