/**
 * Mutual authentication on the TCP port, before any protocol byte: each
 * side proves it knows the secret of the token file (token.ts) without
 * sending it, over fresh nonces from both sides, so neither a local user
 * without the file nor a squatter on the port (which cannot answer the
 * client's challenge) gets further.
 *
 *   client -> server   "gcp-auth 1 <client nonce>\n"
 *   server -> client   "gcp-auth 1 <server nonce> <mac(secret, "server", cn, sn)>\n"
 *   client -> server   "<mac(secret, "client", cn, sn)>\n"
 *   server -> client   the capability line; the protocol starts
 *
 * Nonces are 32 random bytes in hex; mac is HMAC-SHA256 in hex. A line that
 * is not exactly this ends the connection.
 */

const HELLO = /^gcp-auth 1 ([0-9a-f]{64})$/;
const CHALLENGE = /^gcp-auth 1 ([0-9a-f]{64}) ([0-9a-f]{64})$/;
const PROOF = /^([0-9a-f]{64})$/;
/** No handshake line is longer. */
const MAX_LINE = 200;

const nonce = () => crypto.getRandomValues(new Uint8Array(32)).toHex();
const mac = (secret: string, role: string, cn: string, sn: string) => new Bun.CryptoHasher("sha256", secret).update(`${role} ${cn} ${sn}`).digest("hex");
/** Constant-time comparison of two hex strings (node:crypto's would cost connect a module load). */
function same(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The outcome of feeding bytes to a handshake. */
export type Step =
  | { t: "more"; send?: string }
  | { t: "done"; send?: string; rest: Uint8Array }
  | { t: "fail"; reason: string };

/** Collects one line at a time, bounded. */
class Lines {
  private buf = "";
  /** The next complete line and the bytes after it; undefined while incomplete; throws when too long. */
  next(chunk: Uint8Array): { line: string; rest: Uint8Array } | undefined {
    const nl = chunk.indexOf(10);
    const part = new TextDecoder("latin1").decode(nl < 0 ? chunk : chunk.subarray(0, nl));
    this.buf += part;
    if (this.buf.length > MAX_LINE) throw new Error("handshake line too long");
    if (nl < 0) return undefined;
    const line = this.buf.replace(/\r$/, "");
    this.buf = "";
    return { line, rest: chunk.subarray(nl + 1) };
  }
}

export class ServerHandshake {
  private readonly lines = new Lines();
  private cn = "";
  private sn = "";

  constructor(private readonly secret: string) {}

  feed(chunk: Uint8Array): Step {
    try {
      let input = chunk;
      for (;;) {
        const got = this.lines.next(input);
        if (!got) return { t: "more" };
        input = got.rest;
        if (!this.cn) {
          const m = HELLO.exec(got.line);
          if (!m) return { t: "fail", reason: `not an authenticated client (first line ${JSON.stringify(got.line.slice(0, 40))})` };
          this.cn = m[1]!;
          this.sn = nonce();
          const send = `gcp-auth 1 ${this.sn} ${mac(this.secret, "server", this.cn, this.sn)}\n`;
          if (input.length === 0) return { t: "more", send };
          return { t: "fail", reason: "client sent data before the server's challenge" };
        }
        const m = PROOF.exec(got.line);
        if (!m || !same(m[1]!, mac(this.secret, "client", this.cn, this.sn))) return { t: "fail", reason: "wrong token (the client's proof does not match)" };
        return { t: "done", rest: input };
      }
    } catch (err) {
      return { t: "fail", reason: (err as Error).message };
    }
  }
}

export class ClientHandshake {
  private readonly lines = new Lines();
  private readonly cn = nonce();

  constructor(private readonly secret: string) {}

  /** The first line to send. */
  hello(): string {
    return `gcp-auth 1 ${this.cn}\n`;
  }

  feed(chunk: Uint8Array): Step {
    try {
      const got = this.lines.next(chunk);
      if (!got) return { t: "more" };
      const m = CHALLENGE.exec(got.line);
      if (!m) return { t: "fail", reason: `the server did not authenticate (it sent ${JSON.stringify(got.line.slice(0, 40))}); is this go-cache-plugin serve with the same version?` };
      const sn = m[1]!;
      if (!same(m[2]!, mac(this.secret, "server", this.cn, sn))) return { t: "fail", reason: "the server does not know the token: another process may be squatting the port" };
      return { t: "done", send: `${mac(this.secret, "client", this.cn, sn)}\n`, rest: got.rest };
    } catch (err) {
      return { t: "fail", reason: (err as Error).message };
    }
  }
}
