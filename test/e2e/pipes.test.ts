/**
 * The pipe hand-over of `connect` (server/pipes.ts): with real go commands,
 * the server serves their pipes itself; replies are byte for byte those of
 * direct mode and of copying; and a peer cannot have the server open
 * another process's pipes, or anything but pipes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, runGo, sampleModule } from "../support/go.ts";
import { startServe } from "../support/serve.ts";
import { rawConnect, tokenFor } from "../support/raw-client.ts";
import { actionId, line, putFrame } from "../support/plugin.ts";

afterAll(cleanupTempDirs);

const connectEnv = (port: number, extra = "") => ({ ...isolatedGoEnv(), GOCACHEPROG: `${BINARY} connect ${extra} ${port}`.replace(/ +/g, " ") });

/** Runs `stream` through `cmd` with stdin and stdout as pipes (as the go command gives them); returns stdout. */
async function throughPipes(cmd: string, stream: string, opts: { delay?: boolean } = {}): Promise<string> {
  const dir = tempDir("pipes-io");
  writeFileSync(join(dir, "in"), stream);
  const input = opts.delay ? `(sleep 1; cat '${dir}/in')` : `cat '${dir}/in'`;
  const p = Bun.spawn(["sh", "-c", `${input} | ${cmd} | cat`], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd} exited ${code}: ${err}`);
  return out;
}

describe("pipe hand-over", () => {
  test("go builds through connect are served on their own pipes; --no-pipes copies as before", async () => {
    const server = await startServe();
    try {
      expectOk(await runGo(["build", "./..."], { cwd: sampleModule("handed"), env: connectEnv(server.port) }));
      expectOk(await runGo(["build", "./..."], { cwd: sampleModule("handed"), env: connectEnv(server.port) }));
      const m = await server.metrics();
      expect(m("gocache_connections_piped_total")).toBe(2);
      expect(m("gocache_cache_hits_total")).toBeGreaterThan(0);
      expectOk(await runGo(["build", "./..."], { cwd: sampleModule("copied"), env: connectEnv(server.port, "--no-pipes") }));
      const after = await server.metrics();
      expect(after("gocache_connections_piped_total")).toBe(2);
      expect(after("gocache_connections_accepted_total")).toBe(3);
      expect(after("gocache_connections_dropped_total")).toBe(0);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 120_000);

  test("replies are byte for byte the same in direct mode, handed over and copied", async () => {
    const server = await startServe();
    try {
      const bodies = [0, 1, 100, 70_000].map((n, i) => new Uint8Array(n).fill(i + 1));
      const puts = bodies.map((b, i) => putFrame(i + 1, actionId(`same${i}`), b)).join("") + line({ ID: 99, Command: "close" });
      await throughPipes(`${BINARY} --cache-dir ${server.cacheDir}`, puts);
      const gets = [...bodies.map((_, i) => line({ ID: i + 1, Command: "get", ActionID: actionId(`same${i}`) })), line({ ID: 10, Command: "get", ActionID: actionId("absent") }), line({ ID: 11, Command: "close" })].join("");
      const direct = await throughPipes(`${BINARY} --cache-dir ${server.cacheDir}`, gets);
      const handed = await throughPipes(`${BINARY} connect ${server.port}`, gets);
      const copied = await throughPipes(`${BINARY} connect --no-pipes ${server.port}`, gets);
      // Direct mode on the event loop from the first read (a non-blocking stdin with nothing in it yet makes the blocking reads give way).
      const nonBlocking = `python3 -c 'import os,sys; os.set_blocking(0, False); os.execvp(sys.argv[1], sys.argv[1:])'`;
      const evented = await throughPipes(`${nonBlocking} ${BINARY} --cache-dir ${server.cacheDir} --debug 1 2>'${server.cacheDir}/evented.log'`, gets, { delay: true });
      expect(evented).toBe(direct);
      expect(readFileSync(`${server.cacheDir}/evented.log`, "utf8")).toContain("reading requests on the event loop");
      expect(direct.split("\n").filter(Boolean)).toHaveLength(7); // capability, 4 hits, a miss, close
      expect(direct).toContain('"DiskPath"');
      expect(direct).toContain('{"ID":10,"Miss":true}');
      expect(handed).toBe(direct);
      expect(copied.replace(',"GcpPipes":1', "")).toBe(direct); // an older server's capability line, as relayed
      expect((await server.metrics())("gocache_connections_piped_total")).toBe(1);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);

  test("the server refuses a process that is not its peer, and anything but pipes", async () => {
    binary();
    const server = await startServe();
    // A bystander whose stdin and stdout are pipes: a peer must not get the server to serve (or read) them.
    const bystander = Bun.spawn(["sh", "-c", "exec sleep 30"], { stdin: "pipe", stdout: "pipe", stderr: "ignore" });
    try {
      const secret = tokenFor(server.port);
      const cases: Array<[string, RegExp]> = [
        [`gcp-pipes ${bystander.pid} 1 2\n`, /^gcp-pipes no process \d+ is not the peer of this connection\n/],
        [`gcp-pipes ${process.pid} 1 2\n`, /^gcp-pipes no descriptor 0 is not the pipe named\n/],
      ];
      for (const [ask, answer] of cases) {
        const c = await rawConnect({ port: server.port }, { secret });
        await c.waitFor('"GcpPipes":1}\n');
        const before = c.received().length;
        c.write(ask);
        await c.waitFor("gcp-pipes no");
        await Bun.sleep(50); // the rest of its line
        expect(c.received().slice(before)).toMatch(answer);
        // Refused, the connection carries the protocol as before.
        c.write(line({ ID: 1, Command: "get", ActionID: actionId("after-refusal") }));
        await c.waitFor('{"ID":1,"Miss":true}');
        c.socket.end();
      }
      const bad = await rawConnect({ port: server.port }, { secret });
      await bad.waitFor('"GcpPipes":1}\n');
      bad.write("gcp-pipes 1 x y\n");
      await bad.closed; // malformed: dropped
      const m = await server.metrics();
      expect(m("gocache_connections_piped_total")).toBe(0);
      expect(m("gocache_connections_dropped_total")).toBe(1);
      expect(bystander.exitCode).toBeNull();
    } finally {
      bystander.kill();
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});
