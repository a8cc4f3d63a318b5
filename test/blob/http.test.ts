/** The HTTP helpers every backend shares, against hostile loopback servers. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { bodyToFile, request } from "../../src/blob/http.ts";
import { BlobError, TooLargeError, failureLabel, isValidKey } from "../../src/blob/port.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);

/** A raw HTTP server that answers every request with `head` and then `chunks` (each a chunked-encoding chunk). */
function rawServer(head: string, chunks: number, chunkBytes: number) {
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(sock) {
        sock.write(head);
        const piece = `${chunkBytes.toString(16)}\r\n${"x".repeat(chunkBytes)}\r\n`;
        let sent = 0;
        const more = () => {
          while (sent < chunks) {
            if (sock.write(piece) < piece.length) return;
            sent++;
          }
          sock.end("0\r\n\r\n");
        };
        (sock as unknown as { more: () => void }).more = more;
        more();
      },
      drain(sock) { (sock as unknown as { more?: () => void }).more?.(); },
    },
  });
  return { url: `http://127.0.0.1:${listener.port}/k`, stop: () => listener.stop(true) };
}

describe("bodyToFile", () => {
  test("a chunked body beside a small Content-Length never reaches the disk past that length", async () => {
    const server = rawServer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n", 64, 1 << 20);
    try {
      const path = join(tempDir("http"), "out");
      const res = await request(server.url, { timeoutMs: 10_000 }, "read k");
      const err = await bodyToFile(res, path, 1 << 30, "read k").catch((e) => e);
      expect(err).toBeInstanceOf(BlobError);
      expect(existsSync(path) ? statSync(path).size : 0).toBeLessThanOrEqual(10);
    } finally {
      server.stop();
    }
  });

  test.each([
    ["over the caller's bound", "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", 100],
    ["no Content-Length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1 << 30],
  ])("a body %s is a TooLargeError (that object refused), and nothing is written", async (_name, head, max) => {
    const server = rawServer(head, 1, 5000);
    try {
      const path = join(tempDir("http"), "out");
      const res = await request(server.url, { timeoutMs: 10_000 }, "read k");
      const err = await bodyToFile(res, path, max, "read k").catch((e) => e);
      expect(err).toBeInstanceOf(TooLargeError);
      expect((err as BlobError).kind).toBe("invalid");
      expect(existsSync(path)).toBe(false);
    } finally {
      server.stop();
    }
  });
});

describe("request", () => {
  test("a refused connection is unavailable, and the error carries no query string (a presigned URL's signature)", async () => {
    const err = await request("http://127.0.0.1:9/k?X-Amz-Signature=SECRETSIG&X-Amz-Security-Token=SECRETTOKEN", { timeoutMs: 5_000 }, "read k").catch((e) => e);
    expect(err).toBeInstanceOf(BlobError);
    expect(err.kind).toBe("unavailable");
    const everything = JSON.stringify({ m: err.message, c: err.cause?.message, p: err.cause?.path, s: String(err.cause) });
    expect(everything).not.toContain("SECRET");
  });
});

describe("labels and keys", () => {
  test("a failure's label is its kind and status only: a server cannot make every warning new", () => {
    const labels = ["Bad1", "Bad2", "Bad3"].map((code) => failureLabel(new Error("wrapped", { cause: new BlobError("invalid", `HTTP 400 ${code}`, { status: 400, code }) })));
    expect(new Set(labels)).toEqual(new Set(["blob/invalid/400"]));
  });

  test.each([
    ["action/ab/" + "ab".repeat(32), true],
    ["module/example.com/!upper/@v/v1.0.0+incompatible.zip", true],
    ["a b", false],
    ["a/../b", false],
    ["a//b", false],
    ["a/./b", false],
    ["100%", false],
    ["q?x", false],
    ["", false],
    ["x".repeat(1025), false],
  ])("isValidKey(%p) is %p", (key, ok) => {
    expect(isValidKey(key)).toBe(ok);
  });
});
