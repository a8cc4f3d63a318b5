/**
 * Microsoft Entra ID tokens for the storage audience: the shared shape of a
 * token source, the validation of any token answer, and the two sources
 * that post to the tenant's token endpoint (a service principal's secret,
 * a workload identity's federated token file).
 */
import { BlobError, kindOfStatus } from "../../blob/port.ts";
import { boundedBody, isLoopbackHost, request } from "../../blob/http.ts";

export const STORAGE_SCOPE = "https://storage.azure.com/.default";
export const STORAGE_RESOURCE = "https://storage.azure.com/";

export interface AccessToken { token: string; expiresAtMs: number }

export interface TokenContext {
  env: Record<string, string | undefined>;
  timeoutMs: number;
  /** "[azure] az://acct/cont": how every message starts. */
  label: string;
}

export interface TokenSource {
  /** Which credential this is, for messages ("managed identity (IMDS)"). */
  readonly name: string;
  /** A fresh token. Throws SourceUnavailable when the source does not apply here, a BlobError when it fails. */
  fetch(): Promise<AccessToken>;
}

/** This source does not exist here (no IMDS, no `az`): the chain moves on. */
export class SourceUnavailable extends Error {}

const MAX_ANSWER = 64 * 1024;
/** An access token is a JWT (or another opaque ASCII string): nothing else is ever put in a header. */
const TOKEN = /^[A-Za-z0-9._~+/=-]{16,16384}$/;

/** The token in a parsed answer (`access_token`/`accessToken`, `expires_in` or `expires_on`); throws when any of it is missing or out of range. */
export function tokenFrom(answer: unknown, nowMs: number): AccessToken {
  const a = (answer ?? {}) as Record<string, unknown>;
  const token = a.access_token ?? a.accessToken;
  if (typeof token !== "string" || !TOKEN.test(token)) throw new Error("no valid access_token in the answer");
  const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" && /^\d{1,12}$/.test(v) ? Number(v) : NaN);
  const inSec = num(a.expires_in);
  const onSec = num(a.expires_on);
  const expiresAtMs = Number.isFinite(inSec) ? nowMs + inSec * 1000 : onSec * 1000;
  // A token said to live longer than a day is not believed beyond that.
  if (!(expiresAtMs > nowMs)) throw new Error("the answer has no valid expiry");
  return { token, expiresAtMs: Math.min(expiresAtMs, nowMs + 24 * 3600_000) };
}

/** Reads a token endpoint's answer: the token on 200; on a refusal, a BlobError naming the source and the service's error code (never its text). */
export async function tokenAnswer(res: Response, source: string, ctx: TokenContext): Promise<AccessToken> {
  const what = `${ctx.label}: ${source}`;
  const text = new TextDecoder().decode(await boundedBody(res, MAX_ANSWER, `${what}: token answer`));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    if (res.status === 200) throw new BlobError("invalid", `${what}: the token answer is not JSON`, { cause: err });
  }
  if (res.status !== 200) {
    const b = (body ?? {}) as { error?: unknown; error_codes?: unknown };
    const code = typeof b.error === "string" && /^[a-z_]{1,64}$/.test(b.error) ? b.error : "";
    const aad = Array.isArray(b.error_codes) && Number.isInteger(b.error_codes[0]) ? ` AADSTS${b.error_codes[0]}` : "";
    const kind = res.status === 400 ? "denied" : kindOfStatus(res.status);
    throw new BlobError(kind, `${what}: the token request was refused: HTTP ${res.status}${code ? ` ${code}` : ""}${aad}`, { status: res.status, code: code || undefined });
  }
  try {
    return tokenFrom(body, Date.now());
  } catch (err) {
    throw new BlobError("invalid", `${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** An http(s) base URL from the environment; plain http only to this machine (a token must not cross a network in clear). */
export function checkBase(raw: string, variable: string, label: string): string {
  let u: URL | undefined;
  try { u = new URL(raw); } catch {}
  const loopback = u && isLoopbackHost(u.hostname);
  if (!u || !(u.protocol === "https:" || (u.protocol === "http:" && loopback)) || u.username || u.password || u.search || u.hash) {
    throw new BlobError("denied", `${label}: ${variable} must be an https:// URL (or http:// on this machine)`);
  }
  return `${u.origin}${u.pathname}`.replace(/\/+$/, "");
}

/** A tenant or client id: a GUID or a domain name, nothing that could change the URL. */
export function checkId(value: string, variable: string, label: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$/.test(value)) throw new BlobError("denied", `${label}: ${variable} is not a valid id`);
  return value;
}

/**
 * The client-credentials grant at `{AZURE_AUTHORITY_HOST}/{tenant}/oauth2/v2.0/token`,
 * with either a client secret or a client assertion (the federated token,
 * read afresh each time because the platform rotates the file).
 */
export function clientCredentials(ctx: TokenContext, opts: { name: string; tenant: string; clientId: string; form: () => Promise<Record<string, string>> }): TokenSource {
  const authority = checkBase(ctx.env.AZURE_AUTHORITY_HOST || "https://login.microsoftonline.com", "AZURE_AUTHORITY_HOST", ctx.label);
  const url = `${authority}/${checkId(opts.tenant, "AZURE_TENANT_ID", ctx.label)}/oauth2/v2.0/token`;
  const clientId = checkId(opts.clientId, "AZURE_CLIENT_ID", ctx.label);
  return {
    name: opts.name,
    async fetch() {
      const body = new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, scope: STORAGE_SCOPE, ...(await opts.form()) });
      const res = await request(url, { method: "POST", body, headers: { "Content-Type": "application/x-www-form-urlencoded" }, timeoutMs: ctx.timeoutMs }, `${ctx.label}: ${opts.name}: token request`);
      return tokenAnswer(res, opts.name, ctx);
    },
  };
}
