/**
 * The token sources of the DefaultAzureCredential chain, in its order:
 * environment service principal, workload identity, managed identity (App
 * Service, then IMDS), Azure CLI. Only the ones that apply here are listed;
 * credentials.ts tries them in turn.
 */
import { BlobError } from "../../blob/port.ts";
import { boundedBody, request } from "../../blob/http.ts";
import { STORAGE_RESOURCE, SourceUnavailable, checkBase, checkId, clientCredentials, tokenAnswer, tokenFrom, type TokenContext, type TokenSource } from "./entra.ts";

const MAX_FILE = 64 * 1024;
/** How long the IMDS probe waits: off Azure the address simply does not answer. */
const PROBE_MS = 1_000;

/** A federated token from its file (bounded, a JWT), read on every refresh because the platform rotates it. */
async function federatedToken(path: string, label: string): Promise<string> {
  let text: string;
  try {
    const file = Bun.file(path);
    if (file.size > MAX_FILE) throw new Error(`larger than ${MAX_FILE} bytes`);
    text = (await file.text()).trim();
  } catch (err) {
    throw new BlobError("denied", `${label}: workload identity: cannot read AZURE_FEDERATED_TOKEN_FILE ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text)) throw new BlobError("denied", `${label}: workload identity: AZURE_FEDERATED_TOKEN_FILE ${path} does not hold a JWT`);
  return text;
}

/** A managed identity token from `url` (App Service or IMDS); a 400/404 means no identity is assigned here. */
function managedIdentity(ctx: TokenContext, name: string, url: string, headers: Record<string, string>, probe?: string): TokenSource {
  let present = !probe;
  return {
    name,
    async fetch() {
      if (!present) {
        // Any answer, even a refusal of the header-less probe, means the endpoint exists.
        const res = await request(probe!, { timeoutMs: PROBE_MS }, `${ctx.label}: ${name}`).catch(() => undefined);
        if (!res) throw new SourceUnavailable(`${name}: no answer from ${new URL(probe!).host}`);
        void res.body?.cancel().catch(() => {});
        present = true;
      }
      const res = await request(url, { headers, timeoutMs: Math.min(ctx.timeoutMs, 30_000) }, `${ctx.label}: ${name}: token request`);
      if (res.status === 400 || res.status === 404) {
        void res.body?.cancel().catch(() => {});
        throw new SourceUnavailable(`${name}: no identity assigned (HTTP ${res.status})`);
      }
      return tokenAnswer(res, name, ctx);
    },
  };
}

/** `az account get-access-token`, bounded in time and output. */
function azureCli(ctx: TokenContext, az: string): TokenSource {
  const name = "Azure CLI (az account get-access-token)";
  const tenant = ctx.env.AZURE_TENANT_ID ? ["--tenant", checkId(ctx.env.AZURE_TENANT_ID, "AZURE_TENANT_ID", ctx.label)] : [];
  return {
    name,
    async fetch() {
      const env = Object.fromEntries(Object.entries(ctx.env).filter((e): e is [string, string] => typeof e[1] === "string"));
      const proc = Bun.spawn([az, "account", "get-access-token", "--resource", STORAGE_RESOURCE, "-o", "json", ...tenant], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: Math.min(ctx.timeoutMs, 20_000), killSignal: "SIGKILL" });
      const [out, err, code] = await Promise.all([
        boundedBody(new Response(proc.stdout), MAX_FILE, `${ctx.label}: ${name}`).catch((e) => (proc.kill("SIGKILL"), Promise.reject(e))),
        boundedBody(new Response(proc.stderr), MAX_FILE, name).catch(() => new Uint8Array()),
        proc.exited,
      ]);
      if (code !== 0) {
        const login = /az login/.test(new TextDecoder().decode(err)) ? ": run az login" : "";
        throw new SourceUnavailable(`${name}: exit ${proc.signalCode ?? code}${login}`);
      }
      try {
        const a = JSON.parse(new TextDecoder().decode(out)) as Record<string, unknown>;
        // Older CLIs give only expiresOn, a local time with microseconds.
        const local = typeof a.expiresOn === "string" ? Date.parse(a.expiresOn.replace(" ", "T").replace(/\.\d+$/, "")) : NaN;
        return tokenFrom({ accessToken: a.accessToken, expires_on: a.expires_on ?? Math.floor(local / 1000) }, Date.now());
      } catch (e) {
        throw new BlobError("invalid", `${ctx.label}: ${name}: unreadable answer: ${(e as Error).message}`, { cause: e });
      }
    },
  };
}

/** The sources that apply in this environment, in the order they are tried. */
export function tokenSources(ctx: TokenContext): TokenSource[] {
  const { env, label } = ctx;
  const sources: TokenSource[] = [];
  const { AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_CLIENT_SECRET: secret, AZURE_FEDERATED_TOKEN_FILE: tokenFile } = env;
  if (tenant && clientId && secret) {
    if (secret.length > 1024 || /[\0-\x1f]/.test(secret)) throw new BlobError("denied", `${label}: AZURE_CLIENT_SECRET is not a client secret`);
    sources.push(clientCredentials(ctx, { name: "service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)", tenant, clientId, form: async () => ({ client_secret: secret }) }));
  }
  if (tenant && clientId && tokenFile) {
    const form = async () => ({ client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: await federatedToken(tokenFile, label) });
    sources.push(clientCredentials(ctx, { name: "workload identity (AZURE_FEDERATED_TOKEN_FILE)", tenant, clientId, form }));
  }
  const query = new URLSearchParams({ resource: STORAGE_RESOURCE, ...(clientId ? { client_id: checkId(clientId, "AZURE_CLIENT_ID", label) } : {}) });
  if (env.IDENTITY_ENDPOINT && env.IDENTITY_HEADER) {
    const base = checkBase(env.IDENTITY_ENDPOINT, "IDENTITY_ENDPOINT", label);
    if (!/^[\x21-\x7e]{1,1024}$/.test(env.IDENTITY_HEADER)) throw new BlobError("denied", `${label}: IDENTITY_HEADER is not a header value`);
    sources.push(managedIdentity(ctx, "managed identity (IDENTITY_ENDPOINT)", `${base}?api-version=2019-08-01&${query}`, { "X-IDENTITY-HEADER": env.IDENTITY_HEADER }));
  }
  // GOCACHE_AZURE_IMDS_ENDPOINT moves IMDS (tests point it at a stand-in or a dead port).
  // IMDS itself is plain http on a link-local address, by design.
  const imds = env.GOCACHE_AZURE_IMDS_ENDPOINT ? checkBase(env.GOCACHE_AZURE_IMDS_ENDPOINT, "GOCACHE_AZURE_IMDS_ENDPOINT", label) : "http://169.254.169.254";
  const tokenPath = `${imds}/metadata/identity/oauth2/token`;
  sources.push(managedIdentity(ctx, "managed identity (IMDS)", `${tokenPath}?api-version=2018-02-01&${query}`, { Metadata: "true" }, tokenPath));
  const az = Bun.which("az", { PATH: env.PATH ?? "" });
  if (az) sources.push(azureCli(ctx, az));
  return sources;
}
