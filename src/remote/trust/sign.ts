/**
 * Signatures of the cache's records (--signing-key-file; keys.ts).
 *
 * A signature is HMAC-SHA256 (a secret key) or Ed25519 (a key pair), under
 * one listed key, of one statement:
 *
 *   "gcp-sig 1\n<kind>\n<key id>\n<prefix>\n" + fields joined by "\n"
 *
 * where <prefix> is the namespace the record is stored under (so a record
 * copied into another prefix does not verify there) and the kinds are
 *
 *   entry      action id, output id, size, unix nanos   (an ax record: the mapping itself)
 *   manifest   SHA-256 (hex) of the manifest's entry lines
 *   pointer    action id, manifest hash                  (a manifest-index object)
 *
 * On the wire it is the token "<key id>:<hex>" (64 digits for HMAC, 128 for
 * Ed25519). Only the worker loads this module (with --bucket and a key
 * file): Bun.CryptoHasher needs no import, node:crypto is loaded for
 * Ed25519 keys only, and the HMAC comparison is constant-time.
 */
import { PKCS8_ED25519, SPKI_ED25519, type TrustKey } from "./keys.ts";

export type SignedKind = "entry" | "manifest" | "pointer";
/** A record's standing: signed by a listed key for its namespace, not signed, or a signature that fails. */
export type Verdict = "ok" | "unsigned" | "bad-signature";

/** The wire form of a signature token. */
export const SIGNATURE_TOKEN = /^([A-Za-z0-9._-]{1,64}):([0-9a-f]{64}|[0-9a-f]{128})$/;

export class Keyring {
  private readonly byId = new Map<string, TrustKey>();

  /** `keys`: the first signs; all verify (each within its scope). */
  constructor(private readonly keys: TrustKey[]) {
    if (keys.length === 0) throw new Error("[trust] a keyring needs at least one key");
    for (const k of keys) this.byId.set(k.id, k);
  }

  /** The ID of the signing key (for logs; never the secret). */
  get signingKeyId(): string {
    return this.keys[0]!.id;
  }

  /** The signature token of a statement, by the signing key. */
  sign(kind: SignedKind, prefix: string, fields: Array<string | number | bigint>): string {
    const key = this.keys[0]!;
    if (key.ed25519 && !("private" in key.ed25519)) throw new Error(`[trust] key ${key.id} is a public key: this process cannot sign (a key file of public keys is for --read-only)`);
    const statement = statementOf(key, kind, prefix, fields);
    return `${key.id}:${key.ed25519 ? ed25519Sign(key, statement) : hmac(key, statement)}`;
  }

  /**
   * Whether `token` signs the statement for a record stored under `prefix`:
   * unsigned when there is no token, a bad signature when it is malformed,
   * names a key not listed (or not scoped to `prefix`) or does not match.
   */
  verify(kind: SignedKind, prefix: string, fields: Array<string | number | bigint>, token: string | undefined): Verdict {
    if (token === undefined) return "unsigned";
    const m = SIGNATURE_TOKEN.exec(token);
    const key = m ? this.byId.get(m[1]!) : undefined;
    if (!m || !key || (key.scope && !key.scope.includes(prefix))) return "bad-signature";
    const statement = statementOf(key, kind, prefix, fields);
    const good = key.ed25519 ? m[2]!.length === 128 && ed25519Verify(key, statement, m[2]!) : equalHex(hmac(key, statement), m[2]!);
    return good ? "ok" : "bad-signature";
  }
}

const statementOf = (key: TrustKey, kind: SignedKind, prefix: string, fields: Array<string | number | bigint>) =>
  `gcp-sig 1\n${kind}\n${key.id}\n${prefix}\n${fields.join("\n")}`;

function hmac(key: TrustKey, statement: string): string {
  return new Bun.CryptoHasher("sha256", key.secret!).update(statement).digest("hex");
}

const keyObjects = new WeakMap<TrustKey, import("node:crypto").KeyObject>();
const nodeCrypto = () => require("node:crypto") as typeof import("node:crypto");

function keyObject(key: TrustKey): import("node:crypto").KeyObject {
  let k = keyObjects.get(key);
  if (!k) {
    const e = key.ed25519!, c = nodeCrypto();
    k = "private" in e
      ? c.createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, e.private]), format: "der", type: "pkcs8" })
      : c.createPublicKey({ key: Buffer.concat([SPKI_ED25519, e.public]), format: "der", type: "spki" });
    keyObjects.set(key, k);
  }
  return k;
}

function ed25519Sign(key: TrustKey, statement: string): string {
  return nodeCrypto().sign(null, Buffer.from(statement), keyObject(key)).toString("hex");
}

function ed25519Verify(key: TrustKey, statement: string, hex: string): boolean {
  try {
    return nodeCrypto().verify(null, Buffer.from(statement), keyObject(key), Buffer.from(hex, "hex"));
  } catch {
    return false;
  }
}

/** Compares two hex strings of equal length in time independent of where they differ. */
function equalHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
