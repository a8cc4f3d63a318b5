/** Upstream fetching: retries, 404/410 pass-through, timeouts, size bounds, truncation. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Upstream } from "../../src/modproxy/upstream.ts";
import { freePort } from "../support/net.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);

/** A raw HTTP server: `answer` returns the exact bytes written for each request (undefined: never answer). */
function rawServer(answer: (n: number) => string | undefined) {
  let n = 0;
  const server = Bun.listen({
    hostname: "127.0.0.1", port: 0, socket: {
      data(s) {
        const out = answer(++n);
        if (out !== undefined) { s.write(out); s.end(); }
      },
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, requests: () => n, stop: () => server.stop(true) };
}

const http = (status: string, body: string, headers: Record<string, string | number> = { "Content-Length": body.length }) =>
  `HTTP/1.1 ${status}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}Connection: close\r\n\r\n${body}`;

const make = (url: string, extra: Partial<ConstructorParameters<typeof Upstream>[0]> = {}) => {
  let attempts = 0;
  const u = new Upstream({ baseUrl: url, maxBytes: 1 << 20, backoffMs: 10, onAttempt: () => attempts++, ...extra });
  return { u, attempts: () => attempts };
};

describe("Upstream.get", () => {
  test("200 into memory and into a file", async () => {
    const s = rawServer(() => http("200 OK", "v1.0.0\nv1.1.0\n"));
    try {
      const { u } = make(s.url);
      const r = await u.get("x/@v/list");
      expect(r.kind === "ok" && new TextDecoder().decode(r.bytes)).toBe("v1.0.0\nv1.1.0\n");
      const dest = join(tempDir("up"), "f");
      expect(await u.get("x/@v/list", { dest })).toMatchObject({ kind: "ok", size: 14 });
      expect(readFileSync(dest, "utf8")).toBe("v1.0.0\nv1.1.0\n");
    } finally { s.stop(); }
  });

  test.each([["404 Not Found", 404], ["410 Gone", 410]])("%s passes through with its text, not retried", async (line, status) => {
    const s = rawServer(() => http(line as string, "not found: unknown revision v9\n"));
    try {
      const { u, attempts } = make(s.url);
      expect(await u.get("x/@v/v9.0.0.info")).toEqual({ kind: "missing", status: status as 404, text: "not found: unknown revision v9\n" });
      expect(attempts()).toBe(1);
    } finally { s.stop(); }
  });

  test("5xx is retried with backoff, then succeeds", async () => {
    const s = rawServer((n) => (n < 3 ? http("502 Bad Gateway", "bad") : http("200 OK", "ok")));
    try {
      const { u, attempts } = make(s.url);
      expect(await u.get("p")).toMatchObject({ kind: "ok", size: 2 });
      expect(attempts()).toBe(3);
    } finally { s.stop(); }
  });

  test("persistent 5xx fails after 3 attempts with a reason", async () => {
    const s = rawServer(() => http("503 Service Unavailable", "down"));
    try {
      const { u, attempts } = make(s.url);
      const r = await u.get("p");
      expect(r).toMatchObject({ kind: "failed", corrupt: false, reason: expect.stringMatching(/answered 503 \(after 3 attempts\)/) });
      expect(attempts()).toBe(3);
    } finally { s.stop(); }
  });

  test("403 is not retried", async () => {
    const s = rawServer(() => http("403 Forbidden", "no"));
    try {
      const { u, attempts } = make(s.url);
      expect(await u.get("p")).toMatchObject({ kind: "failed", reason: expect.stringMatching(/answered 403/) });
      expect(attempts()).toBe(1);
    } finally { s.stop(); }
  });

  test("connection refused fails after retries", async () => {
    const { u, attempts } = make(`http://127.0.0.1:${await freePort()}`);
    const r = await u.get("p");
    expect(r.kind).toBe("failed");
    expect(attempts()).toBe(3);
  });

  test("a body shorter than Content-Length is a truncated download: retried, refused, file removed", async () => {
    const s = rawServer(() => `HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n${"x".repeat(100)}`);
    try {
      const { u, attempts } = make(s.url);
      const dest = join(tempDir("up"), "t");
      const r = await u.get("m/@v/v1.0.0.zip", { dest });
      expect(r).toMatchObject({ kind: "failed", corrupt: true });
      expect(attempts()).toBe(3);
      expect(existsSync(dest)).toBe(false);
    } finally { s.stop(); }
  });

  test("Content-Length over the bound is refused at once, without reading the body", async () => {
    const s = rawServer(() => `HTTP/1.1 200 OK\r\nContent-Length: ${600 << 20}\r\nConnection: close\r\n\r\nxx`);
    try {
      const { u, attempts } = make(s.url);
      expect(await u.get("p", { dest: join(tempDir("up"), "b") })).toMatchObject({ kind: "failed", corrupt: true, reason: expect.stringMatching(/exceeds the 1048576-byte limit/) });
      expect(attempts()).toBe(1);
    } finally { s.stop(); }
  });

  test("a chunked body over the bound is refused", async () => {
    const big = "y".repeat(3000);
    const s = rawServer(() => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`);
    try {
      const { u } = make(s.url, { maxBytes: 1000 });
      expect(await u.get("p")).toMatchObject({ kind: "failed", corrupt: true, reason: expect.stringMatching(/body exceeds/) });
    } finally { s.stop(); }
  });

  test("no response headers within the deadline is a timeout", async () => {
    const s = rawServer(() => undefined);
    try {
      const { u, attempts } = make(s.url, { headerTimeoutMs: 200, attempts: 2 });
      const t0 = performance.now();
      expect(await u.get("p")).toMatchObject({ kind: "failed", reason: expect.stringMatching(/timed out waiting for the response headers/) });
      expect(attempts()).toBe(2);
      expect(performance.now() - t0).toBeLessThan(3000);
    } finally { s.stop(); }
  });

  test("verify refuses a complete body (not retried, corrupt)", async () => {
    const s = rawServer(() => http("200 OK", "garbage"));
    try {
      const { u, attempts } = make(s.url);
      const dest = join(tempDir("up"), "v");
      expect(await u.get("p", { dest, verify: async () => "zip: nope" })).toMatchObject({ kind: "failed", corrupt: true, reason: expect.stringMatching(/zip: nope$/) });
      expect(attempts()).toBe(1);
      expect(existsSync(dest)).toBe(false);
    } finally { s.stop(); }
  });
});
