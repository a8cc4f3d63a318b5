/** The parts of the pipe hand-over that need no server: the peer lookup and the non-blocking pipe writer. */
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, constants, openSync, readFileSync, readlinkSync, readSync } from "node:fs";
import { join } from "node:path";
import { PIPES_REQUEST, PipeChannel, openClaimedPipes, tcpSocketInode } from "../../src/server/pipes.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);

const TABLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:5BA0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:5BA0 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:5BA0 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D432 0100007F:5BA0 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0000000000000000
   4: 0A000001:D433 0100007F:5BA0 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 20 4 30 10 -1
`;

describe("tcpSocketInode", () => {
  test.each([
    ["the client's end of an established loopback connection", 0xd431, 0x5ba0, 2222],
    ["the server's end, looked up the other way round", 0x5ba0, 0xd431, 3333],
    ["a connection in TIME_WAIT is not a peer", 0xd432, 0x5ba0, undefined],
    ["another address is not loopback", 0xd433, 0x5ba0, undefined],
    ["an unknown port", 0x1234, 0x5ba0, undefined],
  ])("%s", (_name, local, remote, want) => {
    expect(tcpSocketInode(TABLE, local, remote)).toBe(want);
  });
});

describe("the hand-over request line", () => {
  test.each([
    ["gcp-pipes 123 456 789", true],
    ["gcp-pipes 123 456", false],
    ["gcp-pipes -1 456 789", false],
    ["gcp-pipes 12345678901 1 1", false],
    ["gcp-pipes 1 2 3 4", false],
    ["gcp-pipes 1 2 3\n", false],
  ])("%p is well-formed: %p", (text, ok) => {
    expect(PIPES_REQUEST.test(text)).toBe(ok);
  });
});

describe("openClaimedPipes", () => {
  test("refuses a claim for a connection that does not exist", () => {
    expect(() => openClaimedPipes({ pid: process.pid, inIno: 1, outIno: 2 }, { serverPort: 1, clientAddress: "127.0.0.1", clientPort: 2 })).toThrow("not in /proc/net/tcp");
  });

  test("refuses a peer on another loopback address (its port may match another process's connection)", () => {
    expect(() => openClaimedPipes({ pid: process.pid, inIno: 1, outIno: 2 }, { serverPort: 1, clientAddress: "127.0.0.2", clientPort: 2 })).toThrow("not 127.0.0.1");
  });

  test("refuses descriptors that are not both pipes", () => {
    const p = Bun.spawn(["sleep", "30"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }); // /dev/null, a character device
    try {
      expect(() => openClaimedPipes({ pid: p.pid, inIno: 1, outIno: 2 }, undefined)).toThrow("descriptor 0 is not the pipe named");
    } finally {
      p.kill();
    }
  });
});

describe("openClaimedPipes on a process between two pipes", () => {
  test("opens them once; the same pipes are refused while served, and can be claimed again after", async () => {
    const pidFile = join(tempDir("mid"), "pid");
    const chain = Bun.spawn(["sh", "-c", `sleep 30 | sh -c 'echo $$ > ${pidFile}; exec sleep 30' | sleep 30`], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    try {
      let pid = 0;
      for (let i = 0; i < 200 && !pid; i++) {
        try { pid = Number(readFileSync(pidFile, "utf8").trim()); } catch { await Bun.sleep(10); }
      }
      const ino = (fd: number) => Number(/^pipe:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))![1]);
      const claim = { pid, inIno: ino(0), outIno: ino(1) };
      const first = openClaimedPipes(claim, undefined);
      expect(() => openClaimedPipes(claim, undefined)).toThrow("being served already");
      expect(() => openClaimedPipes({ ...claim, inIno: claim.outIno, outIno: claim.inIno }, undefined)).toThrow(/being served already|not the pipe named/);
      new PipeChannel(first).close();
      const again = openClaimedPipes(claim, undefined);
      new PipeChannel(again).close();
      expect(() => openClaimedPipes({ ...claim, inIno: claim.inIno + 1000 }, undefined)).toThrow("descriptor 0 is not the pipe named");
      expect(() => openClaimedPipes({ ...claim, outIno: claim.inIno }, undefined)).toThrow("the same pipe");
    } finally {
      chain.kill();
      Bun.spawnSync(["pkill", "-f", pidFile]);
    }
  });
});

describe("PipeChannel", () => {
  test("what a full pipe does not take waits, in order, and goes out once it is read", async () => {
    const fifo = join(tempDir("fifo"), "p");
    Bun.spawnSync(["mkfifo", fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const input = openSync("/dev/null", constants.O_RDONLY);
    const ch = new PipeChannel({ inFd: input, outFd: writer, release() {} });
    const chunk = new Uint8Array(48 * 1024);
    for (let i = 0; i < 8; i++) ch.write(new Uint8Array(chunk.length).fill(i));
    expect(ch.out.backlogBytes).toBeGreaterThan(0); // a pipe holds 64 KiB
    const got: number[] = [];
    const buf = new Uint8Array(64 * 1024);
    const until = Date.now() + 10_000;
    while (got.length < 8 * chunk.length && Date.now() < until) {
      try {
        const n = readSync(reader, buf, 0, buf.length, null);
        for (let i = 0; i < n; i++) got.push(buf[i]!);
      } catch { await Bun.sleep(2); } // EAGAIN: the writer's retry has not run yet
    }
    expect(got.length).toBe(8 * chunk.length);
    for (let i = 0; i < 8; i++) expect(got[i * chunk.length]).toBe(i);
    expect(ch.out.backlogBytes).toBe(0);
    ch.close();
    closeSync(reader);
  });
});
