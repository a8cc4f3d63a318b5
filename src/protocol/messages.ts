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

export { CAPABILITY_LINE } from "./capability.ts";

const ID_BYTES = 32;

/** Decodes a base64 protocol ID to hex; throws with the field name when it is not 32 bytes. */
export function idToHex(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) throw new Error(`missing ${field}`);
  const bytes = Buffer.from(value, "base64");
  if (bytes.length !== ID_BYTES || bytes.toString("base64") !== value) {
    throw new Error(`${field} is not base64 of ${ID_BYTES} bytes: ${JSON.stringify(value.slice(0, 64))}`);
  }
  return bytes.toString("hex");
}

/** Encodes a hex ID for the wire. */
export function hexToId(hex: string): string {
  return Buffer.from(hex, "hex").toString("base64");
}

/** True when s is 64 lower-case hex digits (a SHA-256 in our file and key names). */
export function isHexId(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

/** RFC 3339 with nanoseconds, as Go's time.Time marshals, from Unix nanoseconds. */
export function formatTime(unixNanos: bigint): string {
  const seconds = unixNanos / 1_000_000_000n;
  const nanos = unixNanos - seconds * 1_000_000_000n;
  const iso = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${iso}.${nanos.toString().padStart(9, "0")}Z`;
}

/** Current time in Unix nanoseconds. */
export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Serialises one response line (with its newline). */
export function encodeResponse(res: Response): string {
  return JSON.stringify(res) + "\n";
}
