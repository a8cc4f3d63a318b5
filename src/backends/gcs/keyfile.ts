/**
 * Google credential files (the JSON that GOOGLE_APPLICATION_CREDENTIALS or
 * gcloud's well-known file holds): read with a size bound, parsed, and
 * checked field by field into one typed record before anything is sent
 * anywhere. What a problem message says is the field and what is wrong with
 * it, never the field's value (a private key or refresh token could be it).
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { BlobError, type BlobErrorKind } from "../../blob/port.ts";
import { isLoopbackHost } from "../../blob/http.ts";

/** A credential failure. `detail` is the message without its "[gcs] gs://bucket: " prefix, for callers that name the key. */
export class CredentialError extends BlobError {
  constructor(name: string, kind: BlobErrorKind, readonly detail: string, opts: { cause?: unknown; status?: number; code?: string } = {}) {
    super(kind, `[gcs] ${name}: ${detail}`, opts);
  }
}

/**
 * A server's words, made safe for one log line: printable, at most 200
 * characters, and without any of `secrets` (as sent, or URL-encoded the way
 * a form body or a query carries it: an endpoint may quote its request back).
 */
export function clean(s: unknown, secrets: (string | undefined)[]): string {
  if (typeof s !== "string") return "";
  let out = s.slice(0, 4096);
  for (const secret of secrets) {
    if (!secret || secret.length < 6) continue;
    for (const form of [secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)]) out = out.split(form).join("[redacted]");
  }
  return out.replace(/[^\x20-\x7e]+/g, " ").trim().slice(0, 200);
}

/** How a subject token is found in its file or URL answer: the whole text, or one field of a JSON object. */
export type TokenFormat = { type: "text" } | { type: "json"; field: string };

export type Credential =
  | { type: "service_account"; clientEmail: string; privateKey: string; privateKeyId?: string; tokenUri: string }
  | { type: "authorized_user"; clientId: string; clientSecret: string; refreshToken: string; tokenUri: string }
  | {
      type: "external_account";
      audience: string;
      subjectTokenType: string;
      tokenUrl: string;
      source: { file: string; format: TokenFormat } | { url: string; headers: Record<string, string>; format: TokenFormat };
      impersonationUrl?: string;
      clientId?: string;
      clientSecret?: string;
    };

/** Credential files are a few KB; anything bigger is not one. */
export const CREDENTIAL_FILE_MAX = 64 << 10;

/**
 * The text of a regular file of at most `max` bytes. Opened non-blocking so
 * that a FIFO cannot hang the caller; throws an Error saying what is wrong.
 */
export async function readBoundedFile(path: string, max: number): Promise<string> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot be read (${err.code ?? "error"})`, { cause: err });
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error("is not a regular file");
    if (st.size > max) throw new Error(`is ${st.size} bytes, more than the ${max} allowed`);
    const buf = new Uint8Array(max + 1);
    const { bytesRead } = await fh.read(buf, 0, max + 1, 0);
    if (bytesRead > max) throw new Error(`is more than the ${max} bytes allowed`);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, bytesRead));
    } catch {
      throw new Error("is not UTF-8 text");
    }
  } finally {
    await fh.close();
  }
}

/**
 * A URL that credentials may be sent to: https, or plain http to a loopback
 * address only (test stand-ins); never with user info in it.
 */
export function trustedUrl(value: unknown, field: string): string {
  const u = typeof value === "string" && value.length <= 2048 ? URL.parse(value) : null;
  const loopback = u !== null && isLoopbackHost(u.hostname);
  if (!u || u.username || u.password || !(u.protocol === "https:" || (u.protocol === "http:" && loopback))) {
    throw new Error(`"${field}" is not an https URL (plain http only to a loopback address)`);
  }
  return u.href;
}

type Json = Record<string, unknown>;

function text(o: Json, field: string, required: true): string;
function text(o: Json, field: string, required: false): string | undefined;
function text(o: Json, field: string, required: boolean): string | undefined {
  const v = o[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== "string" || v.length === 0 || v.length > 16 << 10) throw new Error(`"${field}" is missing or not a non-empty string`);
  return v;
}

function format(v: unknown): TokenFormat {
  if (v === undefined) return { type: "text" };
  const f = v as Json;
  if (f?.type === undefined || f.type === "text") return { type: "text" };
  if (f.type === "json") return { type: "json", field: text(f, "subject_token_field_name", true) };
  throw new Error(`"credential_source.format.type" must be "text" or "json"`);
}

function source(v: unknown): Extract<Credential, { type: "external_account" }>["source"] {
  const s = v as Json;
  if (typeof s !== "object" || s === null) throw new Error(`"credential_source" is missing`);
  if (typeof s.file === "string" && s.url === undefined) return { file: text(s, "file", true), format: format(s.format) };
  if (typeof s.url === "string" && s.file === undefined) {
    const u = URL.parse(s.url);
    // The subject token comes from a local identity endpoint (often plain http on a link-local address); nothing secret is sent to it.
    if (!u || u.username || u.password || !/^https?:$/.test(u.protocol)) throw new Error(`"credential_source.url" is not an http(s) URL`);
    const headers: Record<string, string> = {};
    for (const [k, h] of Object.entries((s.headers ?? {}) as Json)) {
      if (typeof h !== "string" || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(k) || !/^[\t\x20-\x7e]*$/.test(h)) throw new Error(`"credential_source.headers" must map header names to strings`);
      headers[k] = h;
    }
    return { url: u.href, headers, format: format(s.format) };
  }
  throw new Error(`"credential_source" must have exactly one of "file" or "url" (other sources, such as executables or AWS, are not supported)`);
}

/** The credential a file's text describes; throws an Error naming the first problem (never a value). */
export function parseCredential(body: string): Credential {
  let o: Json;
  try {
    o = JSON.parse(body) as Json;
  } catch {
    throw new Error("is not valid JSON"); // the parser's message can quote the file
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new Error("is not a JSON object");
  switch (o.type) {
    case "service_account": {
      const privateKey = text(o, "private_key", true);
      if (!privateKey.includes("-----BEGIN PRIVATE KEY-----")) throw new Error(`"private_key" is not a PEM PKCS#8 private key`);
      const clientEmail = text(o, "client_email", true);
      if (!/^[^\s@]{1,256}@[^\s@]{1,256}$/.test(clientEmail)) throw new Error(`"client_email" is not an email address`);
      const privateKeyId = text(o, "private_key_id", false);
      if (privateKeyId !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(privateKeyId)) throw new Error(`"private_key_id" is not a key id`);
      return { type: "service_account", clientEmail, privateKey, privateKeyId, tokenUri: trustedUrl(o.token_uri ?? "https://oauth2.googleapis.com/token", "token_uri") };
    }
    case "authorized_user":
      return {
        type: "authorized_user",
        clientId: text(o, "client_id", true),
        clientSecret: text(o, "client_secret", true),
        refreshToken: text(o, "refresh_token", true),
        tokenUri: trustedUrl(o.token_uri ?? "https://oauth2.googleapis.com/token", "token_uri"),
      };
    case "external_account": {
      const impersonation = o.service_account_impersonation_url;
      return {
        type: "external_account",
        audience: text(o, "audience", true),
        subjectTokenType: text(o, "subject_token_type", true),
        tokenUrl: trustedUrl(o.token_url ?? "https://sts.googleapis.com/v1/token", "token_url"),
        source: source(o.credential_source),
        impersonationUrl: impersonation === undefined ? undefined : trustedUrl(impersonation, "service_account_impersonation_url"),
        clientId: text(o, "client_id", false),
        clientSecret: text(o, "client_secret", false),
      };
    }
    default: {
      const t = typeof o.type === "string" && /^[a-z_]{1,40}$/.test(o.type) ? `"${o.type}"` : "missing or unknown";
      throw new Error(`has type ${t}; supported: "service_account", "authorized_user", "external_account"`);
    }
  }
}
