/**
 * Message shapes of the go command's GOCACHEPROG protocol
 * (cmd/go/internal/cacheprog) and the conversions between their wire form
 * and the forms used inside the cache.
 *
 * On the wire, ActionID and OutputID are Go []byte: base64 strings of 32 raw
 * bytes. Inside the cache they are lower-case hex, which is what file names
 * and S3 keys use.
 */

export interface Request {
  ID: number;
  Command: string;
  ActionID?: string;
  /** Go >= 1.24. */
  OutputID?: string;
  /** Go <= 1.23 (GOEXPERIMENT=cacheprog) name of OutputID. */
  ObjectID?: string;
  BodySize?: number;
}

export interface Response {
  ID: number;
  Err?: string;
  KnownCommands?: string[];
  Miss?: boolean;
  OutputID?: string;
  Size?: number;
  Time?: string;
  DiskPath?: string;
}

export { CAPABILITY_LINE } from "./commands.ts";

const ID_BYTES = 32;
const ID_CHARS = 44;

/** Decodes a base64 protocol ID to hex; throws with the field name when it is not 32 bytes. */
export function idToHex(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) throw new Error(`missing ${field}`);
  // 32 bytes are 44 characters; strict decoding rejects every other
  // spelling (bad characters, missing padding, stray bits).
  if (value.length === ID_CHARS) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = Uint8Array.fromBase64(value, { lastChunkHandling: "strict" });
    } catch { /* reported below */ }
    if (bytes?.length === ID_BYTES) return bytes.toHex();
  }
  throw new Error(`${field} is not base64 of ${ID_BYTES} bytes: ${JSON.stringify(value.slice(0, 64))}`);
}

/** Encodes a hex ID for the wire. */
export function hexToId(hex: string): string {
  return Uint8Array.fromHex(hex).toBase64();
}

/** True when s is 64 lower-case hex digits (a SHA-256 in our file and key names). */
export function isHexId(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

/** RFC 3339 with nanoseconds, as Go's time.Time marshals, from Unix nanoseconds. */
export function formatTime(unixNanos: bigint): string {
  // Digits, not BigInt arithmetic: this runs once per hit.
  const digits = unixNanos.toString().padStart(10, "0");
  const iso = new Date(Number(digits.slice(0, -9)) * 1000).toISOString().slice(0, 19);
  return `${iso}.${digits.slice(-9)}Z`;
}

/** Current time in Unix nanoseconds. */
export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Serialises one response line (with its newline). */
export function encodeResponse(res: Response): string {
  return JSON.stringify(res) + "\n";
}
