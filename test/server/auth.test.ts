/** The mutual HMAC handshake of serve --plugin PORT / connect PORT (src/server/auth.ts). */
import { describe, expect, test } from "bun:test";
import { ClientHandshake, ServerHandshake, type Step } from "../../src/server/auth.ts";

const SECRET = "a".repeat(64);
const OTHER = "b".repeat(64);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
/** HMAC-SHA256 as the handshake defines it, computed here independently of auth.ts. */
const hmac = (secret: string, text: string) => new Bun.CryptoHasher("sha256", secret).update(text).digest("hex");

/** Feeds `bytes` to a handshake `step` bytes at a time (0: at once); returns every step. */
function feedAll(hs: { feed(chunk: Uint8Array): Step }, bytes: Uint8Array, step = 0): Step[] {
  if (step === 0) return [hs.feed(bytes)];
  const steps: Step[] = [];
  for (let i = 0; i < bytes.length; i += step) {
    steps.push(hs.feed(bytes.subarray(i, i + step)));
    if (steps.at(-1)!.t !== "more") break;
  }
  return steps;
}

/** The last step, checking that every step before it asked for more and sent nothing. */
function last(steps: Step[]): Step {
  for (const s of steps.slice(0, -1)) expect(s).toEqual({ t: "more" });
  return steps.at(-1)!;
}

/** The server's challenge line for a hello (sent by a real ClientHandshake unless given). */
function challenge(server: ServerHandshake, hello: string): string {
  const s = server.feed(enc(hello));
  if (s.t !== "more" || !s.send) throw new Error(`expected a challenge, got ${JSON.stringify(s)}`);
  return s.send;
}

describe("handshake between ClientHandshake and ServerHandshake", () => {
  test.each([0, 1, 2, 7])("succeeds with the same secret, every line fed %i bytes at a time (0: at once)", (step) => {
    const client = new ClientHandshake(SECRET);
    const server = new ServerHandshake(SECRET);
    const hello = client.hello();
    expect(hello).toMatch(/^gcp-auth 1 [0-9a-f]{64}\n$/);

    const s1 = last(feedAll(server, enc(hello), step));
    expect(s1.t).toBe("more");
    const chal = (s1 as { send?: string }).send!;
    expect(chal).toMatch(/^gcp-auth 1 [0-9a-f]{64} [0-9a-f]{64}\n$/);

    const c = last(feedAll(client, enc(chal), step));
    expect(c.t).toBe("done");
    if (c.t !== "done") return;
    expect(c.send).toMatch(/^[0-9a-f]{64}\n$/);
    expect(c.rest.length).toBe(0);

    const s2 = last(feedAll(server, enc(c.send!), step));
    expect(s2.t).toBe("done");
    if (s2.t === "done") expect(s2.rest.length).toBe(0);
  });

  test("the MACs are HMAC-SHA256 of the secret over role and both nonces", () => {
    const client = new ClientHandshake(SECRET);
    const server = new ServerHandshake(SECRET);
    const cn = client.hello().trim().split(" ")[2]!;
    const [, , sn, serverMac] = challenge(server, client.hello()).trim().split(" ");
    expect(serverMac).toBe(hmac(SECRET, `server ${cn} ${sn}`));
    const c = client.feed(enc(`gcp-auth 1 ${sn} ${serverMac}\n`));
    expect(c.t === "done" && c.send).toBe(`${hmac(SECRET, `client ${cn} ${sn}`)}\n`);
  });

  test("nonces are fresh on every handshake", () => {
    const hellos = new Set(Array.from({ length: 5 }, () => new ClientHandshake(SECRET).hello()));
    expect(hellos.size).toBe(5);
    const hello = new ClientHandshake(SECRET).hello();
    const challenges = new Set(Array.from({ length: 5 }, () => challenge(new ServerHandshake(SECRET), hello)));
    expect(challenges.size).toBe(5);
  });

  test("CRLF line ends are accepted", () => {
    const client = new ClientHandshake(SECRET);
    const server = new ServerHandshake(SECRET);
    const chal = challenge(server, client.hello().replace("\n", "\r\n"));
    const c = client.feed(enc(chal.replace("\n", "\r\n")));
    expect(c.t).toBe("done");
    if (c.t === "done") expect(server.feed(enc(c.send!.replace("\n", "\r\n"))).t).toBe("done");
  });
});

describe("a wrong secret fails on both sides", () => {
  test("the client detects a server with a different secret (a squatter on the port)", () => {
    const client = new ClientHandshake(SECRET);
    const chal = challenge(new ServerHandshake(OTHER), client.hello());
    const c = client.feed(enc(chal));
    expect(c).toEqual({ t: "fail", reason: expect.stringMatching(/server does not know the token/) });
  });

  test("the client refuses its own hello nonce with a MAC made by someone else", () => {
    const client = new ClientHandshake(SECRET);
    const cn = client.hello().trim().split(" ")[2]!;
    const sn = "c".repeat(64);
    // The client's MAC reflected back as the server's: the role in the MAC tells them apart.
    const c = client.feed(enc(`gcp-auth 1 ${sn} ${hmac(SECRET, `client ${cn} ${sn}`)}\n`));
    expect(c.t).toBe("fail");
  });

  test.each([
    ["a different secret", (cn: string, sn: string) => hmac(OTHER, `client ${cn} ${sn}`)],
    ["the server's own MAC reflected back", (cn: string, sn: string) => hmac(SECRET, `server ${cn} ${sn}`)],
    ["the right MAC over swapped nonces", (cn: string, sn: string) => hmac(SECRET, `client ${sn} ${cn}`)],
    ["the right MAC in upper case", (cn: string, sn: string) => hmac(SECRET, `client ${cn} ${sn}`).toUpperCase()],
    ["not hex at all", () => "x".repeat(64)],
    ["an empty line", () => ""],
  ])("the server detects a client proof made with %s", (_name, proof) => {
    const server = new ServerHandshake(SECRET);
    const cn = "d".repeat(64);
    const [, , sn] = challenge(server, `gcp-auth 1 ${cn}\n`).trim().split(" ");
    const s = server.feed(enc(`${proof(cn, sn!)}\n`));
    expect(s).toEqual({ t: "fail", reason: expect.stringMatching(/wrong token/) });
  });

  test("the same forged client proof with the right secret passes (so the failures above are the secret's)", () => {
    const server = new ServerHandshake(SECRET);
    const cn = "d".repeat(64);
    const [, , sn] = challenge(server, `gcp-auth 1 ${cn}\n`).trim().split(" ");
    expect(server.feed(enc(`${hmac(SECRET, `client ${cn} ${sn}`)}\n`)).t).toBe("done");
  });
});

describe("malformed handshake lines fail", () => {
  const chalFor = (client: ClientHandshake) => challenge(new ServerHandshake(SECRET), client.hello());

  test.each([
    ["the capability line (a server without authentication)", () => `{"ID":0,"KnownCommands":["get","put","close"]}\n`],
    ["an HTTP response", () => "HTTP/1.1 400 Bad Request\r\n"],
    ["a hello instead of a challenge", (c: ClientHandshake) => c.hello()],
    ["another protocol version", (c: ClientHandshake) => chalFor(c).replace("gcp-auth 1", "gcp-auth 2")],
    ["upper-case hex", (c: ClientHandshake) => chalFor(c).toUpperCase().replace("GCP-AUTH", "gcp-auth")],
    ["a field too many", (c: ClientHandshake) => chalFor(c).replace("\n", " x\n")],
    ["a short nonce", (c: ClientHandshake) => chalFor(c).replace(/ ([0-9a-f]{64}) /, (_m, n: string) => ` ${n.slice(2)} `)],
    ["an empty line", () => "\n"],
  ])("the client refuses a server reply that is %s", (_name, reply) => {
    const client = new ClientHandshake(SECRET);
    const c = client.feed(enc(reply(client)));
    expect(c.t).toBe("fail");
  });

  test.each([
    ["an HTTP request line", "POST / HTTP/1.1\r\n"],
    ["a protocol request (a client without authentication)", `{"ID":1,"Command":"get","ActionID":"a"}\n`],
    ["a proof instead of a hello", `${"e".repeat(64)}\n`],
    ["another protocol version", `gcp-auth 2 ${"e".repeat(64)}\n`],
    ["a short nonce", `gcp-auth 1 ${"e".repeat(62)}\n`],
  ])("the server refuses a first line that is %s", (_name, line) => {
    const s = new ServerHandshake(SECRET).feed(enc(line));
    expect(s).toEqual({ t: "fail", reason: expect.stringMatching(/not an authenticated client/) });
  });

  test("the server refuses a client that sends more before the challenge", () => {
    const s = new ServerHandshake(SECRET).feed(enc(`${new ClientHandshake(SECRET).hello()}${"e".repeat(64)}\n`));
    expect(s).toEqual({ t: "fail", reason: expect.stringMatching(/before the server's challenge/) });
  });

  test.each([0, 1, 50])("overlong lines fail on both sides, without waiting for a newline (fed %i bytes at a time)", (step) => {
    const long = enc("gcp-auth 1 " + "f".repeat(300)); // no newline
    const s = last(feedAll(new ServerHandshake(SECRET), long, step));
    expect(s).toEqual({ t: "fail", reason: "handshake line too long" });
    const c = last(feedAll(new ClientHandshake(SECRET), long, step));
    expect(c).toEqual({ t: "fail", reason: "handshake line too long" });
    // The proof line too, after a good hello.
    const server = new ServerHandshake(SECRET);
    challenge(server, new ClientHandshake(SECRET).hello());
    expect(last(feedAll(server, enc("0".repeat(201)), step))).toEqual({ t: "fail", reason: "handshake line too long" });
  });

  test("a line of 200 bytes is not too long (the bound is on length, not on any line)", () => {
    const s = new ServerHandshake(SECRET).feed(enc(`${"x".repeat(200)}\n`));
    expect(s).toEqual({ t: "fail", reason: expect.stringMatching(/not an authenticated client/) });
  });
});

describe("bytes after the handshake", () => {
  const pipelined = `{"ID":1,"Command":"get","ActionID":"a"}\n\n{"ID":2,"Command":"close"}\n\n`;

  test.each([0, 1, 3])("bytes after the client's proof are the server's rest (fed %i bytes at a time)", (step) => {
    const client = new ClientHandshake(SECRET);
    const server = new ServerHandshake(SECRET);
    const c = client.feed(enc(challenge(server, client.hello())));
    if (c.t !== "done") throw new Error(JSON.stringify(c));
    const steps = feedAll(server, enc(c.send! + pipelined), step);
    const s = last(steps);
    expect(s.t).toBe("done");
    if (s.t !== "done") return;
    // Fed at once: all of it. Fed in pieces: the part of the piece that completed the proof after its newline.
    const fed = step === 0 ? c.send!.length + pipelined.length : steps.length * step;
    expect(dec(s.rest)).toBe(pipelined.slice(0, fed - c.send!.length));
  });

  test("bytes after the server's challenge are the client's rest", () => {
    const client = new ClientHandshake(SECRET);
    const chal = challenge(new ServerHandshake(SECRET), client.hello());
    const c = client.feed(enc(`${chal}{"ID":0,"KnownCommands":["get","put","close"]}\n`));
    expect(c.t).toBe("done");
    if (c.t === "done") expect(dec(c.rest)).toBe(`{"ID":0,"KnownCommands":["get","put","close"]}\n`);
  });
});
