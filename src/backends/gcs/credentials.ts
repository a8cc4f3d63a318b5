/**
 * Where the JSON API is and how requests to it are authorised: Application
 * Default Credentials, in the order Google's own client libraries look:
 *   1. STORAGE_EMULATOR_HOST: an emulator at that address, no authentication;
 *   2. GOOGLE_APPLICATION_CREDENTIALS: a credential file (keyfile.ts);
 *   3. gcloud's file, $CLOUDSDK_CONFIG (or ~/.config/gcloud)/application_default_credentials.json;
 *   4. the metadata server of a Google Cloud machine (GCE_METADATA_HOST moves it).
 * GOCACHE_GCS_ENDPOINT moves the API (a private endpoint) and keeps authentication.
 *
 * A token is reused until a minute before it expires; one refresh is in
 * flight at a time; a refusal is remembered briefly so that a thousand gets
 * do not ask the token endpoint a thousand times. Every failure is a
 * CredentialError: one line naming the bucket and what to set.
 */
import { join } from "node:path";
import { stat } from "node:fs/promises";
import { boundedBody, isLoopbackHost, request } from "../../blob/http.ts";
import { BlobError } from "../../blob/port.ts";
import { CREDENTIAL_FILE_MAX, CredentialError, parseCredential, readBoundedFile } from "./keyfile.ts";
import { exchangeFor, oauthToken, type Exchange, type ExchangeContext, type Token } from "./tokens.ts";

type Env = Record<string, string | undefined>;

export interface GcsEndpoint {
  /** The API's base URL, no trailing slash: "https://storage.googleapis.com". */
  base: string;
  /** False for an emulator: no token is fetched or sent. */
  authenticated: boolean;
}

export interface Tokens {
  /** The Authorization header's value; throws a CredentialError when there is no usable credential. */
  authorization(): Promise<string>;
  /** Forgets the cached token (the API answered 401: it was revoked or is wrong). */
  invalidate(): void;
}

const REFRESH_EARLY_MS = 60_000;
const REFUSAL_MEMORY_MS = 30_000;
/** The metadata server answers in milliseconds when it is there; off Google Cloud, do not wait long to find out. */
const METADATA_PROBE_MS = 3_000;
const TOKEN_TIMEOUT_MS = 30_000;

export const NO_CREDENTIALS =
  'no credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account or external-account file, run "gcloud auth application-default login", or run on Google Cloud (metadata server)';

/** The API's address from the environment; a malformed setting is an "invalid" BlobError naming the variable. */
export function gcsEndpoint(env: Env, name: string): GcsEndpoint {
  const emulator = env.STORAGE_EMULATOR_HOST?.trim() || undefined;
  const custom = env.GOCACHE_GCS_ENDPOINT?.trim() || undefined;
  if (emulator && custom) throw new BlobError("invalid", `[gcs] ${name}: STORAGE_EMULATOR_HOST and GOCACHE_GCS_ENDPOINT are both set; set only one (an emulator takes no credentials, an endpoint does)`);
  // Like Google's clients: a bare host:port is an emulator over plain http.
  if (emulator) return { base: baseUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(emulator) ? emulator : `http://${emulator}`, "STORAGE_EMULATOR_HOST", name), authenticated: false };
  if (custom) {
    const base = baseUrl(custom, "GOCACHE_GCS_ENDPOINT", name);
    // It gets our bearer tokens: never in clear over a network.
    if (base.startsWith("http:") && !isLoopbackHost(new URL(base).hostname)) throw new BlobError("invalid", `[gcs] ${name}: GOCACHE_GCS_ENDPOINT must be https (plain http only to this machine): it is sent access tokens`);
    return { base, authenticated: true };
  }
  return { base: "https://storage.googleapis.com", authenticated: true };
}

function baseUrl(value: string, variable: string, name: string): string {
  const u = URL.parse(value);
  // The value is not quoted: user info in it could be a secret.
  if (!u || !/^https?:$/.test(u.protocol) || u.username || u.password || u.search || u.hash) {
    throw new BlobError("invalid", `[gcs] ${name}: ${variable} is not an http(s) URL (or host:port) without user info, query or fragment`);
  }
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

/** The token source for a bucket's store; nothing is read or fetched until the first authorization(). */
export function gcsTokens(o: { name: string; env: Env; timeoutMs: number }): Tokens {
  let exchange: Exchange | undefined;
  let cached: Token | undefined;
  let inflight: Promise<Token> | undefined;
  let refused: { err: unknown; untilMs: number } | undefined;
  const refresh = async (): Promise<Token> => {
    try {
      exchange ??= await locate(o);
      return (cached = await exchange());
    } catch (err) {
      const e = err instanceof CredentialError || !(err instanceof BlobError) ? err : new CredentialError(o.name, err.kind, err.message, { cause: err, status: err.status, code: err.code });
      if (e instanceof BlobError && e.kind === "denied") refused = { err: e, untilMs: Date.now() + REFUSAL_MEMORY_MS };
      throw e;
    }
  };
  return {
    async authorization() {
      if (cached && Date.now() < cached.expiresAtMs - REFRESH_EARLY_MS) return `Bearer ${cached.accessToken}`;
      if (refused && Date.now() < refused.untilMs) throw refused.err;
      inflight ??= refresh().finally(() => (inflight = undefined));
      return `Bearer ${(await inflight).accessToken}`;
    },
    invalidate() {
      cached = undefined;
    },
  };
}

/** The first credential the chain finds (the file is read and checked once; a bad one is reported, not skipped). */
async function locate(o: { name: string; env: Env; timeoutMs: number }): Promise<Exchange> {
  const timeoutMs = Math.min(o.timeoutMs, TOKEN_TIMEOUT_MS);
  const explicit = o.env.GOOGLE_APPLICATION_CREDENTIALS;
  if (explicit) return fromFile(explicit, { name: o.name, timeoutMs, source: `GOOGLE_APPLICATION_CREDENTIALS file ${explicit}`, hint: "fix or replace the file GOOGLE_APPLICATION_CREDENTIALS names" });
  const config = o.env.CLOUDSDK_CONFIG || (o.env.HOME ? join(o.env.HOME, ".config", "gcloud") : undefined);
  const wellKnown = config && join(config, "application_default_credentials.json");
  if (wellKnown && (await stat(wellKnown).then(() => true, () => false))) {
    return fromFile(wellKnown, { name: o.name, timeoutMs, source: `gcloud's credential file ${wellKnown}`, hint: 'run "gcloud auth application-default login" again, or set GOOGLE_APPLICATION_CREDENTIALS' });
  }
  return metadata(o.env.GCE_METADATA_HOST || "metadata.google.internal", { name: o.name, timeoutMs, source: "the metadata server", hint: "check the machine's service account and its access scopes" });
}

async function fromFile(path: string, ctx: ExchangeContext): Promise<Exchange> {
  try {
    return exchangeFor(parseCredential(await readBoundedFile(path, CREDENTIAL_FILE_MAX)), ctx);
  } catch (err) {
    throw new CredentialError(ctx.name, "denied", `${ctx.source} ${(err as Error).message}: ${ctx.hint}`);
  }
}

/**
 * Tokens from the metadata server. Until it has answered once, failing to
 * reach it means "not on Google Cloud": NO_CREDENTIALS, remembered (it is not
 * asked again). Its answer must carry Metadata-Flavor: Google, so that
 * whatever else answers on that name is not taken for it.
 */
function metadata(host: string, ctx: ExchangeContext): Exchange {
  if (!/^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/.test(host)) throw new CredentialError(ctx.name, "invalid", "GCE_METADATA_HOST is not a host or host:port");
  const url = `http://${host}/computeMetadata/v1/instance/service-accounts/default/token`;
  let answered = false;
  let absent: CredentialError | undefined;
  return async () => {
    if (absent) throw absent;
    let res: Response;
    try {
      res = await request(url, { headers: { "Metadata-Flavor": "Google" }, timeoutMs: answered ? ctx.timeoutMs : Math.min(ctx.timeoutMs, METADATA_PROBE_MS) }, `the metadata server at ${url}`);
    } catch (err) {
      if (answered) throw err;
      throw (absent = new CredentialError(ctx.name, "denied", NO_CREDENTIALS, { cause: err }));
    }
    if (res.headers.get("metadata-flavor") !== "Google") {
      void res.body?.cancel().catch(() => {});
      if (answered) throw new CredentialError(ctx.name, "invalid", `the metadata server at ${url} answered without Metadata-Flavor: Google`);
      throw (absent = new CredentialError(ctx.name, "denied", NO_CREDENTIALS));
    }
    answered = true;
    const body = await boundedBody(res, 64 << 10, `the metadata server at ${url}`);
    if (res.status !== 200) throw new CredentialError(ctx.name, res.status === 404 || res.status === 403 ? "denied" : "unavailable", `the metadata server at ${url} gave no token (HTTP ${res.status}): ${ctx.hint}`, { status: res.status });
    let json: unknown;
    try { json = JSON.parse(new TextDecoder().decode(body)); } catch { /* reported below, unquoted */ }
    return oauthToken(typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {}, ctx, "the metadata server");
  };
}
