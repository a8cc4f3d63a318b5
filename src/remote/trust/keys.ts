/**
 * The signing key file (--signing-key-file, GOCACHE_SIGNING_KEY_FILE): one
 * key a line, blank lines and `#` comments ignored:
 *
 *   <key id> <secret> [<namespace>[,<namespace>...]]
 *   <key id> ed25519:<base64 private key> [<namespace>,...]          signs and verifies
 *   <key id> ed25519-public:<base64 public key> [<namespace>,...]    verifies only
 *
 * A secret is an HMAC key: whoever can verify with it can also sign. An
 * Ed25519 key pair (`go-cache-plugin keygen`) separates the two: a job given
 * only the public key trusts what the private key signed and cannot sign
 * like it (a pull request reading main, say).
 *
 * The first key signs everything this process writes; every key verifies
 * (so a new key is put first and the old one kept below it until the
 * records it signed have aged out). A key with namespaces verifies records
 * read from those prefixes only (`/` names the bucket root, an empty
 * --prefix); one without verifies every namespace. The signing key must
 * cover this process's own --prefix.
 *
 * Key IDs are 1-64 of [A-Za-z0-9._-]; a secret is 16-1024 printable
 * characters without spaces (its bytes are the HMAC key); Ed25519 keys are
 * 32 bytes each in base64. The first key must be able to sign, unless the
 * process is --read-only (it signs nothing: public keys alone will do). The file must
 * not be readable or writable by group or others, like ssh's key files.
 * No error or log line ever shows a secret: errors name the file and the
 * line number only.
 */
import { MODE_BITS_MEAN_ACCESS } from "../../platform.ts";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

export interface TrustKey {
  id: string;
  /** The HMAC key (a secret line); absent for an Ed25519 key. */
  secret?: Uint8Array;
  /** An Ed25519 key: its 32-byte private key (signs), else its 32-byte public key (verifies only). */
  ed25519?: { private: Uint8Array } | { public: Uint8Array };
  /** Namespaces (prefixes, "" for the root) whose records it verifies; undefined: all. */
  scope?: string[];
}

/** Bound on the file: a few keys, not a data file. */
const KEY_FILE_MAX = 64 * 1024;
const ID = /^[A-Za-z0-9._-]{1,64}$/;
const SECRET = /^[\x21-\x7e]{16,1024}$/;

export class KeyFileError extends Error {}

/** Reads and checks the key file; `ownPrefix` is --prefix (the signing key must cover it); `readOnly`: nothing is signed, so public keys alone will do. */
export function loadKeyFile(path: string, ownPrefix: string, readOnly = false): TrustKey[] {
  let text: string;
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK); // a FIFO planted there must not block start-up
    const st = fstatSync(fd);
    if (!st.isFile()) throw new KeyFileError(`[trust] signing key file ${path}: not a regular file`);
    if (MODE_BITS_MEAN_ACCESS && (st.mode & 0o077) !== 0) {
      throw new KeyFileError(`[trust] signing key file ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}): run chmod 600 on it`);
    }
    if (st.size > KEY_FILE_MAX) throw new KeyFileError(`[trust] signing key file ${path}: larger than ${KEY_FILE_MAX} bytes`);
    const buf = new Uint8Array(Math.max(st.size, 1));
    const n = readSync(fd, buf, 0, buf.length, 0);
    text = new TextDecoder().decode(buf.subarray(0, n));
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`[trust] read signing key file ${path}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return parseKeyFile(text, path, ownPrefix, readOnly);
}

/** Parses the key file's text (see the module comment); `where` names it in errors. */
export function parseKeyFile(text: string, where: string, ownPrefix: string, readOnly = false): TrustKey[] {
  const keys: TrustKey[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const bad = (why: string) => new KeyFileError(`[trust] signing key file ${where}, line ${i + 1}: ${why}`);
    const fields = line.split(/[ \t]+/);
    if (fields.length < 2 || fields.length > 3) throw bad("expected '<key id> <secret> [<namespace>,...]'");
    const [id, secret, scope] = fields as [string, string, string | undefined];
    if (!ID.test(id)) throw bad("a key id is 1-64 letters, digits, '.', '_' or '-'");
    if (keys.some((k) => k.id === id)) throw bad(`key id ${id} is listed twice`);
    const material = keyMaterial(secret, bad);
    keys.push({ id, ...material, scope: scope === undefined ? undefined : parseScope(scope, bad) });
  }
  if (keys.length === 0) throw new KeyFileError(`[trust] signing key file ${where}: no keys`);
  const signer = keys[0]!;
  if (readOnly) return keys; // verifies only: a file of public keys is the safest one to hand a job that writes nothing
  if (signer.ed25519 && !("private" in signer.ed25519)) throw new KeyFileError(`[trust] signing key file ${where}: the first key (${signer.id}) signs this process's records, but it is a public key (list a secret or an ed25519 private key first)`);
  if (signer.scope && !signer.scope.includes(ownPrefix)) {
    throw new KeyFileError(`[trust] signing key file ${where}: the first key (${signer.id}) signs this process's records but its namespaces do not include --prefix ${JSON.stringify(ownPrefix || "/")}`);
  }
  return keys;
}

const ED25519 = /^ed25519(-public)?:([A-Za-z0-9+/]{43}=)$/;

function keyMaterial(field: string, bad: (why: string) => Error): Pick<TrustKey, "secret" | "ed25519"> {
  const m = ED25519.exec(field);
  if (m) {
    const bytes = Uint8Array.fromBase64(m[2]!);
    if (bytes.length !== 32) throw bad("an ed25519 key is 32 bytes in base64");
    if (m[1] && weakPublicKey(bytes)) throw bad("this ed25519 public key is a small-order or non-canonical point: signatures anyone can forge would verify under it");
    return { ed25519: m[1] ? { public: bytes } : { private: bytes } };
  }
  if (field.startsWith("ed25519")) throw bad("an ed25519 key is 'ed25519:<base64>' (private) or 'ed25519-public:<base64>', 32 bytes");
  if (!SECRET.test(field)) throw bad("a secret is 16-1024 printable characters without spaces");
  return { secret: new TextEncoder().encode(field) };
}

/** DER headers before a raw 32-byte Ed25519 private key (PKCS #8) and public key (SPKI): key files hold the raw bytes. */
export const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
export const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");

/** The eight points of small order (canonical encodings): under such a key a constant signature verifies most statements. */
const SMALL_ORDER = new Set([
  "0100000000000000000000000000000000000000000000000000000000000000", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000080",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]);

/** A small-order point, or an encoding whose y is not below 2^255 - 19 (no key of ours is either). */
function weakPublicKey(b: Uint8Array): boolean {
  if (SMALL_ORDER.has(b.toHex())) return true;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? b[i]! & 0x7f : b[i]!);
  return y >= 2n ** 255n - 19n;
}

/**
 * A new Ed25519 key pair as key file lines (`go-cache-plugin keygen`): the
 * private line for the jobs that write (and sign) a namespace, the public
 * line for the jobs that only read it.
 */
export function newKeyPair(id: string): { privateLine: string; publicLine: string } {
  if (!ID.test(id)) throw new KeyFileError(`[trust] key id ${JSON.stringify(id.slice(0, 80))}: 1-64 letters, digits, '.', '_' or '-'`);
  const { generateKeyPairSync } = require("node:crypto") as typeof import("node:crypto");
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = (der: Buffer, header: Buffer) => der.subarray(header.length).toString("base64");
  return {
    privateLine: `${id} ed25519:${raw(privateKey.export({ format: "der", type: "pkcs8" }), PKCS8_ED25519)}`,
    publicLine: `${id} ed25519-public:${raw(publicKey.export({ format: "der", type: "spki" }), SPKI_ED25519)}`,
  };
}

function parseScope(raw: string, bad: (why: string) => Error): string[] {
  const out = raw.split(",").map((p) => (p === "/" ? "" : p.replace(/^\/+|\/+$/g, "")));
  if (out.some((p, i) => p === "" && raw.split(",")[i] !== "/")) throw bad("an empty namespace (write / for the bucket root)");
  return out;
}
