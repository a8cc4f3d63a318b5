/**
 * Access tokens from each kind of Google credential: a service account's
 * signed JWT, a user's refresh token, a workload-identity subject token
 * swapped at the security token service (then optionally impersonating a
 * service account). Every answer is read with a bound and checked; a
 * refusal (400, 401, 403) is a "denied" CredentialError; no secret sent
 * (key, assertion, refresh or subject token) can reach a message.
 */
import { boundedBody, request } from "../../blob/http.ts";
import { kindOfStatus } from "../../blob/port.ts";
import { clean, CredentialError, readBoundedFile, type Credential, type TokenFormat } from "./keyfile.ts";

export interface Token { accessToken: string; expiresAtMs: number }
/** Fetches a fresh token (no caching here: credentials.ts caches). */
export type Exchange = () => Promise<Token>;

export interface ExchangeContext {
  /** "gs://bucket", for messages. */
  name: string;
  timeoutMs: number;
  /** Where the credential came from, for messages: "GOOGLE_APPLICATION_CREDENTIALS file /path". */
  source: string;
  /** What to do about a refusal. */
  hint: string;
}

export const STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write";
const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";
const ANSWER_MAX = 64 << 10;
const ERROR_BODY_MAX = 8 << 10;
const SUBJECT_TOKEN_MAX = 64 << 10;
/** A token claiming a longer life is trusted for this long only. */
const MAX_LIFETIME_S = 12 * 3600;
const FORM = { "content-type": "application/x-www-form-urlencoded" };

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");
/** Printable ASCII only, so a token can never smuggle a header line. */
const isToken = (t: unknown): t is string => typeof t === "string" && t.length > 0 && t.length <= 16 << 10 && /^[\x21-\x7e]+$/.test(t);

/** POSTs (or GETs) and returns the parsed JSON answer; a refusal or a malformed answer is a CredentialError. */
async function call(url: string, init: RequestInit, ctx: ExchangeContext, label: string, secrets: (string | undefined)[]): Promise<Record<string, unknown>> {
  const what = `${label} at ${url}`;
  // A network failure or an over-long answer is request()'s or boundedBody()'s BlobError; credentials.ts names the bucket on it.
  const res = await request(url, { ...init, timeoutMs: ctx.timeoutMs }, what);
  if (res.status !== 200) {
    const text = new TextDecoder().decode(await boundedBody(res, ERROR_BODY_MAX, what).catch(() => new Uint8Array(0)));
    let e: Record<string, unknown> = {};
    try { e = JSON.parse(text) ?? {}; } catch { /* not JSON: status only */ }
    // OAuth endpoints say {"error":"invalid_grant","error_description":...}; Google APIs {"error":{"status":...,"message":...}}.
    const nested = typeof e.error === "object" && e.error !== null ? (e.error as Record<string, unknown>) : undefined;
    const rawCode = nested ? nested.status : e.error;
    const code = typeof rawCode === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(rawCode) ? rawCode : undefined;
    const why = clean(nested ? nested.message : e.error_description, secrets);
    const refused = res.status === 400 || res.status === 401 || res.status === 403;
    const detail = `${ctx.source}: ${label} ${refused ? "refused" : "failed"} at ${url} (HTTP ${res.status}${code ? ` ${code}` : ""}${why ? `: ${why}` : ""})`;
    throw new CredentialError(ctx.name, refused ? "denied" : kindOfStatus(res.status), refused ? `${detail}: ${ctx.hint}` : detail, { status: res.status, code });
  }
  const body = await boundedBody(res, ANSWER_MAX, what);
  try {
    const json = JSON.parse(new TextDecoder().decode(body));
    if (typeof json === "object" && json !== null) return json;
  } catch { /* the parser's message could quote a token */ }
  throw new CredentialError(ctx.name, "invalid", `${ctx.source}: ${what} answered with no JSON object`);
}

/** An OAuth token answer ({access_token, expires_in}) checked. */
export function oauthToken(json: Record<string, unknown>, ctx: ExchangeContext, label: string): Token {
  const life = typeof json.expires_in === "string" && /^\d{1,9}$/.test(json.expires_in) ? Number(json.expires_in) : json.expires_in;
  if (!isToken(json.access_token) || typeof life !== "number" || !Number.isFinite(life) || life <= 0) {
    throw new CredentialError(ctx.name, "invalid", `${ctx.source}: ${label} answered without a valid access_token and expires_in`);
  }
  return { accessToken: json.access_token, expiresAtMs: Date.now() + Math.min(life, MAX_LIFETIME_S) * 1000 };
}

/** The PEM PKCS#8 key as a signing key; a bad key is "denied" (the credential is wrong) and never quoted. */
async function signingKey(pem: string, ctx: ExchangeContext): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, ""), "base64");
  try {
    return await crypto.subtle.importKey("pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
  } catch {
    throw new CredentialError(ctx.name, "denied", `${ctx.source}: "private_key" is not a usable RSA private key: ${ctx.hint}`);
  }
}

/** A signed RS256 JWT. */
export async function signJwt(key: CryptoKey, header: object, claims: object): Promise<string> {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, new TextEncoder().encode(input));
  return `${input}.${b64url(new Uint8Array(sig))}`;
}

async function subjectToken(c: Extract<Credential, { type: "external_account" }>, ctx: ExchangeContext): Promise<string> {
  let raw: string;
  const src = c.source;
  if ("file" in src) {
    raw = await readBoundedFile(src.file, SUBJECT_TOKEN_MAX).catch((err: Error) => {
      throw new CredentialError(ctx.name, "denied", `${ctx.source}: the subject token file ${src.file} ${err.message}: ${ctx.hint}`);
    });
  } else {
    const what = `the subject token URL ${src.url}`;
    const res = await request(src.url, { headers: src.headers, timeoutMs: ctx.timeoutMs }, what);
    const body = new TextDecoder().decode(await boundedBody(res, SUBJECT_TOKEN_MAX, what));
    if (res.status !== 200) throw new CredentialError(ctx.name, kindOfStatus(res.status), `${ctx.source}: ${what} answered HTTP ${res.status}`, { status: res.status });
    raw = body;
  }
  const token = pick(raw.trim(), src.format);
  if (!isToken(token)) throw new CredentialError(ctx.name, "denied", `${ctx.source}: no valid subject token in ${"file" in src ? src.file : src.url}: ${ctx.hint}`);
  return token;
}

function pick(raw: string, format: TokenFormat): unknown {
  if (format.type === "text") return raw;
  try { return (JSON.parse(raw) as Record<string, unknown>)?.[format.field]; } catch { return undefined; }
}

/** The exchange for a credential file's contents. */
export function exchangeFor(c: Credential, ctx: ExchangeContext): Exchange {
  switch (c.type) {
    case "service_account": {
      let key: Promise<CryptoKey> | undefined;
      return async () => {
        key ??= signingKey(c.privateKey, ctx).catch((err) => { key = undefined; throw err; });
        const iat = Math.floor(Date.now() / 1000);
        const header = { alg: "RS256", typ: "JWT", ...(c.privateKeyId ? { kid: c.privateKeyId } : {}) };
        const jwt = await signJwt(await key, header, { iss: c.clientEmail, scope: STORAGE_SCOPE, aud: c.tokenUri, iat, exp: iat + 3600 });
        const body = new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: jwt });
        const label = `the token request for service account ${c.clientEmail}`;
        return oauthToken(await call(c.tokenUri, { method: "POST", headers: FORM, body }, ctx, label, [jwt]), ctx, label);
      };
    }
    case "authorized_user":
      return async () => {
        const body = new URLSearchParams({ grant_type: "refresh_token", client_id: c.clientId, client_secret: c.clientSecret, refresh_token: c.refreshToken });
        const label = "the refresh-token request";
        return oauthToken(await call(c.tokenUri, { method: "POST", headers: FORM, body }, ctx, label, [c.refreshToken, c.clientSecret]), ctx, label);
      };
    case "external_account":
      return async () => {
        const subject = await subjectToken(c, ctx);
        const body = new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          audience: c.audience,
          // Impersonation needs cloud-platform on the federated token; the service account's token is then scoped to storage.
          scope: c.impersonationUrl ? CLOUD_PLATFORM_SCOPE : STORAGE_SCOPE,
          requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
          subject_token: subject,
          subject_token_type: c.subjectTokenType,
        });
        const basic: Record<string, string> = c.clientId && c.clientSecret ? { authorization: `Basic ${btoa(`${c.clientId}:${c.clientSecret}`)}` } : {};
        const sts = oauthToken(await call(c.tokenUrl, { method: "POST", headers: { ...FORM, ...basic }, body }, ctx, "the token exchange", [subject, c.clientSecret]), ctx, "the token exchange");
        if (!c.impersonationUrl) return sts;
        const label = "the service account impersonation";
        const init = { method: "POST", headers: { authorization: `Bearer ${sts.accessToken}`, "content-type": "application/json" }, body: JSON.stringify({ scope: [STORAGE_SCOPE], lifetime: "3600s" }) };
        const json = await call(c.impersonationUrl, init, ctx, label, [sts.accessToken, subject]);
        const expiresAtMs = typeof json.expireTime === "string" ? Date.parse(json.expireTime) : NaN;
        if (!isToken(json.accessToken) || !(expiresAtMs > Date.now())) throw new CredentialError(ctx.name, "invalid", `${ctx.source}: ${label} answered without a valid accessToken and expireTime`);
        return { accessToken: json.accessToken, expiresAtMs: Math.min(expiresAtMs, Date.now() + MAX_LIFETIME_S * 1000) };
      };
  }
}
