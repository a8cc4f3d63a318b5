/**
 * serve as a trust boundary: peers that are not our connect, peers that
 * misbehave, squatters, and what may already sit at a socket path.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { startServe } from "../support/serve.ts";
import { actionId, line, putFrame } from "../support/plugin.ts";
import { rawConnect, tokenFor } from "../support/raw-client.ts";
import { freePort } from "../support/net.ts";
import { createToken, defaultTokenPaths, removeToken } from "../../src/server/token.ts";

afterAll(cleanupTempDirs);

const files = (dir: string): string[] => {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
};
const payload = () => `${line({ ID: 1, Command: "get", ActionID: actionId("x") })}${putFrame(2, actionId("planted"), new TextEncoder().encode("evil"))}`;
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function spawnConnect(port: number, input = ""): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([BINARY, "connect", String(port)], { stdin: new Blob([input]), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

describe("serve --plugin: only authenticated peers", () => {
  test("a cross-origin text/plain POST (what any web page can send) stores nothing and is cut off", async () => {
    const server = await startServe();
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/`, { method: "POST", headers: { "Content-Type": "text/plain" }, body: payload() }).then((r) => r.text(), (e: Error) => `error: ${e.message}`);
      expect(res).not.toContain("KnownCommands");
      expect(files(join(server.cacheDir, "v1"))).toEqual([]);
      for (let i = 0; i < 40 && !server.log().includes("dropping connection"); i++) await Bun.sleep(50);
      expect(server.log()).toContain("dropping connection");
      expect((await server.metrics())("gocache_cache_puts_total")).toBe(0);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test.each([
    ["protocol requests without a handshake", () => payload()],
    ["a handshake with a wrong proof", () => `gcp-auth 1 ${"ab".repeat(32)}\n${"cd".repeat(32)}\n${payload()}`],
  ])("%s: no capability line, nothing stored, dropped", async (_name, input) => {
    const server = await startServe();
    try {
      const c = await rawConnect({ port: server.port });
      c.write(input());
      await c.closed;
      expect(c.received()).not.toContain("KnownCommands");
      expect(files(join(server.cacheDir, "v1"))).toEqual([]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("after the handshake, a line that is not JSON ends the connection; what came before was served", async () => {
    const server = await startServe();
    try {
      const c = await rawConnect({ port: server.port }, { secret: tokenFor(server.port) });
      c.write(line({ ID: 1, Command: "get", ActionID: actionId("a") }));
      await c.waitFor('"Miss":true');
      expect(c.received()).toContain("KnownCommands");
      c.write(`POST / HTTP/1.1\r\n\r\n${putFrame(2, actionId("b"), new TextEncoder().encode("evil"))}`);
      await c.closed;
      expect(files(join(server.cacheDir, "v1"))).toEqual([]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("a client that never authenticates is closed after the handshake deadline", async () => {
    const server = await startServe();
    try {
      const c = await rawConnect({ port: server.port });
      const t0 = Date.now();
      await c.closed;
      expect(Date.now() - t0).toBeGreaterThan(9_000);
      expect(server.log()).toContain("not authenticated within 10s");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 30_000);

  test("connect refuses a squatter that does not know the token, and prints nothing on stdout", async () => {
    const port = await freePort();
    const tokenPath = defaultTokenPaths(port)[0]!;
    const secret = createToken(tokenPath); // as a real server of ours would have left it
    const squatter = Bun.listen({
      hostname: "127.0.0.1", port,
      socket: {
        open: (s) => void s.write('{"ID":0,"KnownCommands":["get","put","close"]}\n'),
        data: (s) => void s.write(`gcp-auth 1 ${"11".repeat(32)} ${"22".repeat(32)}\n`),
      },
    });
    try {
      const r = await spawnConnect(port, line({ ID: 1, Command: "get", ActionID: actionId("a") }));
      expect(r.code).toBe(1);
      expect(r.out).toBe("");
      expect(r.err).toMatch(/squatting|did not authenticate/);
    } finally {
      squatter.stop(true);
      removeToken(tokenPath, secret);
    }
  });

  test("a second serve on the same port fails without replacing the running server's token", async () => {
    const server = await startServe();
    try {
      const p = Bun.spawn([BINARY, "serve", "--plugin", String(server.port), "--cache-dir", tempDir("c2")], { stdout: "pipe", stderr: "pipe" });
      const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      expect(code).toBe(1);
      expect(err).toContain("cannot listen");
      const c = await rawConnect({ port: server.port }, { secret: tokenFor(server.port) });
      c.write(line({ ID: 1, Command: "get", ActionID: actionId("a") }));
      await c.waitFor('"Miss":true');
      c.socket.end();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("300 idle connections that never authenticate cannot keep a real client out", async () => {
    const server = await startServe();
    try {
      // Some are evicted while they connect (a reset): that is the point.
      const tries = await Promise.allSettled(Array.from({ length: 300 }, () => rawConnect({ port: server.port })));
      const idle = tries.flatMap((t) => (t.status === "fulfilled" ? [t.value] : []));
      const c = await rawConnect({ port: server.port }, { secret: tokenFor(server.port) });
      c.write(line({ ID: 1, Command: "get", ActionID: actionId("a") }));
      await c.waitFor('"Miss":true');
      expect(300 - idle.filter((x) => !x.isClosed()).length).toBeGreaterThan(200); // the oldest were evicted
      c.socket.end();
      for (const x of idle) x.socket.terminate();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 30_000);

  test("beyond --max-connections a connection is closed at once; the others keep working", async () => {
    const server = await startServe(["--max-connections", "2"]);
    try {
      const secret = tokenFor(server.port);
      const a = await rawConnect({ port: server.port }, { secret });
      const b = await rawConnect({ port: server.port }, { secret });
      const c = await rawConnect({ port: server.port }, { secret }); // authenticated, then over the limit
      await c.closed;
      a.write(line({ ID: 1, Command: "get", ActionID: actionId("a") }));
      await a.waitFor('"Miss":true');
      expect(b.isClosed()).toBe(false);
      expect(server.log()).toContain("--max-connections");
      a.socket.end();
      b.socket.end();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("a client that never reads its answers: the server stops reading it and stays small", async () => {
    const server = await startServe();
    try {
      const c = await rawConnect({ port: server.port }, { secret: tokenFor(server.port) });
      const before = rssKiB(server.proc.pid);
      const chunk = new TextEncoder().encode(Array.from({ length: 2000 }, (_, i) => line({ ID: i + 1, Command: "get", ActionID: actionId(`g${i}`) })).join(""));
      c.socket.pause?.(); // never read
      let sent = 0;
      const until = Date.now() + 8000;
      while (Date.now() < until) {
        const n = c.socket.write(chunk);
        sent += Math.max(n, 0);
        if (n < chunk.length) await Bun.sleep(50);
      }
      const after = rssKiB(server.proc.pid);
      expect(sent).toBeLessThan(400 << 20); // the sender was held back
      expect(after - before).toBeLessThan(100 * 1024);
      const other = await rawConnect({ port: server.port }, { secret: tokenFor(server.port) });
      other.write(line({ ID: 1, Command: "get", ActionID: actionId("z") }));
      await other.waitFor('"Miss":true');
      c.socket.terminate();
      other.socket.end();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 30_000);

  test("50 connections cut off in the middle of a put leave no descriptor and no temporary file behind", async () => {
    const server = await startServe();
    try {
      const secret = tokenFor(server.port);
      const warm = await rawConnect({ port: server.port }, { secret });
      warm.write(line({ ID: 1, Command: "get", ActionID: actionId("w") }));
      await warm.waitFor('"Miss":true');
      warm.socket.end();
      await warm.closed;
      await Bun.sleep(200);
      const fdsBefore = fdCount(server.proc.pid);
      const body = new Uint8Array(1 << 20).fill(7);
      const frame = putFrame(1, actionId("cut"), body);
      for (let i = 0; i < 50; i++) {
        const c = await rawConnect({ port: server.port }, { secret });
        c.write(frame.slice(0, frame.length / 2));
        await Bun.sleep(20);
        c.socket.terminate();
        await c.closed;
      }
      await Bun.sleep(500);
      expect(fdCount(server.proc.pid)).toBeLessThanOrEqual(fdsBefore + 2);
      expect(files(join(server.cacheDir, "v1")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);

  test("SIGTERM with an idle connection open: closed after --shutdown-timeout, exit 0", async () => {
    const server = await startServe(["--shutdown-timeout", "1s"]);
    const c = await rawConnect({ port: server.port }, { secret: tokenFor(server.port) });
    c.write(line({ ID: 1, Command: "get", ActionID: actionId("idle") }));
    await c.waitFor('"Miss":true'); // admitted: a session shutdown must wait for
    const t0 = Date.now();
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(server.log()).toContain("still open after 1s");
    await c.closed;
  });

  test("the token file is 0600 in a 0700 directory and is removed at shutdown", async () => {
    const server = await startServe();
    const path = defaultTokenPaths(server.port).find((p) => existsSync(p))!;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, "..")).mode & 0o077).toBe(0);
    expect(await server.stop()).toBe(0);
    expect(existsSync(path)).toBe(false);
  });
});

describe("serve --socket PATH: what is already there", () => {
  test("an HTTP POST over the socket (curl --unix-socket) stores nothing and is cut off", async () => {
    const path = join(tempDir("sockpost"), "plugin.sock");
    const server = await startServe(["--socket", path]);
    try {
      const res = await fetch("http://localhost/", { unix: path, method: "POST", headers: { "Content-Type": "text/plain" }, body: payload() } as RequestInit).then((r) => r.text(), (e: Error) => `error: ${e.message}`);
      expect(res).not.toContain('"Miss"');
      expect(files(join(server.cacheDir, "v1"))).toEqual([]);
      for (let i = 0; i < 40 && !server.log().includes("dropping connection"); i++) await Bun.sleep(50);
      expect(server.log()).toContain("first line is not a protocol request");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("a regular file at the path is refused and kept", async () => {
    const path = join(tempDir("sockfile"), "plugin.sock");
    writeFileSync(path, "precious");
    const p = Bun.spawn([BINARY, "serve", "--socket", path, "--cache-dir", tempDir("c")], { stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(1);
    expect(err).toContain("is not a socket");
    expect(readFileSync(path, "utf8")).toBe("precious");
  });

  test("a live server's socket is refused; the live server keeps it, also after the second one exits", async () => {
    const path = join(tempDir("socklive"), "plugin.sock");
    const first = await startServe(["--socket", path]);
    try {
      const p = Bun.spawn([BINARY, "serve", "--socket", path, "--cache-dir", tempDir("c")], { stdout: "pipe", stderr: "pipe" });
      const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      expect(code).toBe(1);
      expect(err).toContain("another server is listening");
      const c = await rawConnect({ path });
      c.write(line({ ID: 1, Command: "get", ActionID: actionId("a") }));
      await c.waitFor('"Miss":true');
      c.socket.end();
    } finally {
      expect(await first.stop()).toBe(0);
    }
    expect(existsSync(path)).toBe(false); // ours: removed at shutdown
  });

  test("a stale socket (its server died) is replaced; a socket replaced under us is not removed at shutdown", async () => {
    const path = join(tempDir("sockstale"), "plugin.sock");
    const dead = await startServe(["--socket", path]);
    await dead.stop("SIGKILL");
    expect(statSync(path).isSocket()).toBe(true);
    const server = await startServe(["--socket", path]);
    const c = await rawConnect({ path });
    c.write(line({ ID: 1, Command: "get", ActionID: actionId("a") }));
    await c.waitFor('"Miss":true');
    c.socket.end();
    // Someone else's socket now at the path: ours must not delete it on the way out.
    const { unlinkSync } = await import("node:fs");
    unlinkSync(path);
    const other = Bun.listen({ unix: path, socket: { data() {} } });
    try {
      expect(await server.stop()).toBe(0);
      expect(statSync(path).isSocket()).toBe(true);
    } finally {
      other.stop(true);
    }
  });
});
