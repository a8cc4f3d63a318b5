/**
 * Incremental reader for the go command's request stream.
 *
 * Framing: one JSON request per line, each followed by a blank line. A `put`
 * with BodySize > 0 is followed by its body as one line: `"` + standard padded
 * base64 + `"`. The reader never holds a whole body: it decodes the base64 a
 * chunk at a time into a reused buffer and hands the bytes to a BodySink,
 * which must consume them before returning (the buffer is overwritten).
 *
 * Bad input never stops the reader while the stream can be resynchronised:
 * a line that is not JSON, or a stray body line, is reported and skipped up to
 * the next newline (base64 never contains one). That is for the go command's
 * own pipe (direct mode). On a socket (`strict`), anyone may be on the other
 * end, an HTTP client from a web page included: a first line that is not a
 * valid request, or any later framing error, stops the reader for good
 * (`violation`), an open put body is aborted and nothing more is handled.
 */
import type { Request } from "./messages.ts";
import { COMMANDS } from "./commands.ts";

/** Receives the decoded bytes of one put body. */
export interface BodySink {
  /** Decoded bytes; valid only during the call. */
  write(bytes: Uint8Array): void;
  /** The body line ended. `error` says why the body is unusable (bad base64, missing body, EOF). */
  end(error?: string): void;
}

export interface RequestHandler {
  /** A request without a body (including a put with BodySize 0). */
  request(req: Request): void;
  /** A put whose body follows; the returned sink receives it. */
  body(req: Request): BodySink;
  /** A line that is not a request. `id` is set when one could be recovered from the text. */
  malformed(message: string, id?: number): void;
  /** Strict mode only: the stream broke the framing; the reader has stopped and `malformed` is not called. */
  violation?(message: string): void;
}

export interface ReaderOptions {
  /** Stop at the first framing error instead of skipping it (sockets). */
  strict?: boolean;
}

/** The commands a first line may carry in strict mode. */
const FIRST_COMMANDS = new Set<string>(COMMANDS);

const NL = 10;
const QUOTE = 34;
/** A request line longer than this is garbage: skip it rather than buffer it. */
const MAX_LINE = 1 << 20;

const enum State { Line, BodyStart, Body, SkipLine, AfterBody, Stopped }

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

export class RequestReader {
  private state = State.Line;
  private parts: Uint8Array[] = [];
  private partsLength = 0;
  private sink: BodySink | undefined;
  private bodyReq: Request | undefined;
  private readonly carry = new Uint8Array(4);
  private carryLen = 0;
  private out = new Uint8Array(64 * 1024);
  private readonly strict: boolean;
  private seenRequest = false;

  constructor(private readonly handler: RequestHandler, opts: ReaderOptions = {}) {
    this.strict = opts.strict ?? false;
  }

  /** True once a strict reader has stopped on a framing error. */
  get stopped(): boolean {
    return this.state === State.Stopped;
  }

  /** Feeds the next chunk of the stream. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.state === State.Stopped) return;
      if (this.state === State.Body) {
        pos = this.bodyBytes(chunk, pos);
        continue;
      }
      const nl = chunk.indexOf(NL, pos);
      const end = nl < 0 ? n : nl;
      if (this.state === State.SkipLine) {
        if (nl >= 0) this.state = State.Line;
        pos = end + 1;
        continue;
      }
      if (this.state === State.AfterBody) {
        // Strict: nothing but white space may follow a body's closing quote on its line.
        for (let i = pos; i < end; i++) {
          const c = chunk[i]!;
          if (c !== 32 && c !== 13 && c !== 9) return this.stop("data after a put body on its line");
        }
        if (nl >= 0) this.state = State.Line;
        pos = end + 1;
        continue;
      }
      if (this.state === State.BodyStart) {
        // Skip blank lines and white space before the opening quote.
        while (pos < end && (chunk[pos] === 32 || chunk[pos] === 13 || chunk[pos] === 9)) pos++;
        if (pos === end) { pos = end + 1; continue; }
        if (chunk[pos] === QUOTE) {
          this.state = State.Body;
          pos++;
          continue;
        }
        // The body is missing: fail the put and read this line as a request.
        if (this.strict) return this.stop(`expected the body of put ${this.bodyReq?.ID}, found another line`);
        this.endBody(`expected the body of put ${this.bodyReq?.ID} (${this.bodyReq?.BodySize} bytes), found another line`);
      }
      if (nl < 0) {
        this.keep(chunk.subarray(pos));
        return;
      }
      this.line(this.joined(chunk.subarray(pos, nl)));
      pos = nl + 1;
    }
  }

  /** The stream ended. Returns a description of anything left unfinished. */
  end(): string | undefined {
    if (this.state === State.Stopped) return undefined;
    if (this.state === State.Body || this.state === State.BodyStart) {
      const id = this.bodyReq?.ID;
      this.endBody("input ended in the middle of a put body");
      return `input ended in the middle of the body of put ${id}`;
    }
    if (this.partsLength > 0 && this.state === State.Line) {
      const text = utf8.decode(this.joined(new Uint8Array(0))).trim();
      if (text) this.line(new TextEncoder().encode(text));
    }
    return undefined;
  }

  /**
   * The connection went away: an open put body is aborted (its sink releases
   * its file) and nothing more is read. No answer is owed to a dead peer.
   */
  abort(reason = "connection closed"): void {
    const sink = this.sink;
    this.sink = undefined;
    this.bodyReq = undefined;
    this.parts = [];
    this.partsLength = 0;
    this.state = State.Stopped;
    sink?.end(reason);
  }

  /** Strict mode: stops for good on a framing error. */
  private stop(message: string): void {
    this.abort(message);
    this.handler.violation?.(message);
  }

  private keep(bytes: Uint8Array): void {
    // A peer that is not the go command shows it in its first byte (an HTTP verb): no need to wait for its line.
    if (this.strict && !this.seenRequest && this.partsLength === 0) {
      let i = 0;
      while (i < bytes.length && bytes[i]! <= 32) i++;
      if (i < bytes.length && bytes[i] !== 123) return this.stop("first line is not a protocol request");
    }
    if (this.partsLength + bytes.length > MAX_LINE) {
      if (this.strict) return this.stop(`request line longer than ${MAX_LINE} bytes`);
      this.handler.malformed(`request line longer than ${MAX_LINE} bytes; skipped`);
      this.parts = [];
      this.partsLength = 0;
      this.state = State.SkipLine;
      return;
    }
    // A copy: the caller may reuse its buffer (direct mode's blocking reads do, and a Node Buffer's slice() is a view).
    this.parts.push(new Uint8Array(bytes));
    this.partsLength += bytes.length;
  }

  private joined(tail: Uint8Array): Uint8Array {
    if (this.partsLength === 0) return tail;
    const all = new Uint8Array(this.partsLength + tail.length);
    let off = 0;
    for (const p of this.parts) { all.set(p, off); off += p.length; }
    all.set(tail, off);
    this.parts = [];
    this.partsLength = 0;
    return all;
  }

  private line(bytes: Uint8Array): void {
    let start = 0;
    let end = bytes.length;
    while (start < end && bytes[start]! <= 32) start++;
    while (end > start && bytes[end - 1]! <= 32) end--;
    if (start === end) return; // the blank line after every request
    if (bytes[start] === QUOTE) {
      if (this.strict) return this.stop("body line without a put request before it");
      this.handler.malformed("body line without a put request before it; skipped");
      return;
    }
    const text = utf8.decode(bytes.subarray(start, end));
    let req: Request;
    try {
      req = JSON.parse(text);
      if (typeof req !== "object" || req === null || Array.isArray(req)) throw new Error("not an object");
      if (!Number.isSafeInteger(req.ID)) throw new Error("no numeric ID");
      if (this.strict && !this.seenRequest && !FIRST_COMMANDS.has(req.Command)) throw new Error("not a protocol request");
    } catch (err) {
      if (this.strict) return this.stop(`${this.seenRequest ? "malformed request line" : "first line is not a protocol request"} (${(err as Error).message}): ${JSON.stringify(text.slice(0, 60))}`);
      const m = /"ID"\s*:\s*(\d+)/.exec(text);
      this.handler.malformed(`malformed request line (${(err as Error).message}): ${text.slice(0, 120)}`, m ? Number(m[1]) : undefined);
      return;
    }
    this.seenRequest = true;
    if (req.Command === "put" && typeof req.BodySize === "number" && req.BodySize > 0) {
      this.bodyReq = req;
      const sink = this.handler.body(req);
      if (this.state === State.Stopped) return sink.end("connection closed"); // the handler stopped us
      this.sink = sink;
      this.carryLen = 0;
      this.state = State.BodyStart;
      return;
    }
    this.handler.request(req);
  }

  /** Consumes base64 from chunk[pos..]; returns the new position. */
  private bodyBytes(chunk: Uint8Array, pos: number): number {
    const q = chunk.indexOf(QUOTE, pos);
    const end = q < 0 ? chunk.length : q;
    try {
      if (end > pos) this.decode(chunk.subarray(pos, end));
      if (q < 0) return chunk.length;
      if (this.carryLen > 0) throw new Error(`truncated base64 (${this.carryLen} characters left over)`);
      this.endBody();
    } catch (err) {
      if (this.strict) {
        this.stop(`bad base64 in put body: ${(err as Error).message}`);
        return chunk.length;
      }
      this.endBody(`bad base64 in put body: ${(err as Error).message}`);
    }
    // Skip the rest of the body line (normally just its newline); a handler may have stopped us meanwhile.
    if (this.state !== State.Stopped) this.state = this.strict ? State.AfterBody : State.SkipLine;
    return end === chunk.length ? end : end + 1;
  }

  /**
   * Decodes base64 bytes. Quads split across chunks are completed through a
   * 4-byte carry, so the bulk of every chunk is decoded in place, with no
   * string concatenation or copying.
   */
  private decode(ascii: Uint8Array): void {
    let start = 0;
    if (this.carryLen > 0) {
      const need = Math.min(4 - this.carryLen, ascii.length);
      this.carry.set(ascii.subarray(0, need), this.carryLen);
      this.carryLen += need;
      start = need;
      if (this.carryLen < 4) return;
      this.carryLen = 0;
      this.decodeText(latin1.decode(this.carry));
    }
    const end = start + ((ascii.length - start) & ~3);
    if (end > start) this.decodeText(latin1.decode(ascii.subarray(start, end)));
    if (end < ascii.length) {
      this.carry.set(ascii.subarray(end), 0);
      this.carryLen = ascii.length - end;
    }
  }

  private decodeText(text: string): void {
    const need = (text.length / 4) * 3;
    if (this.out.length < need) this.out = new Uint8Array(need);
    const { read, written } = this.out.setFromBase64(text);
    if (read !== text.length) throw new Error(`unexpected character at offset ${read}`);
    this.sink!.write(this.out.subarray(0, written));
  }

  private endBody(error?: string): void {
    const sink = this.sink;
    this.sink = undefined;
    this.bodyReq = undefined;
    this.carryLen = 0;
    this.state = State.Line;
    sink?.end(error);
  }
}
