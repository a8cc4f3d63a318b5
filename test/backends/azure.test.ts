/**
 * The Azure backend: the blob contract against Azurite, then what is
 * Azure's own: connection strings, Shared Key signing, SAS, the token chain
 * (against loopback stand-ins for Entra ID, IMDS, App Service and `az`),
 * hostile answers, and that no secret is ever shown.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blobContract } from "../blob/contract.ts";
import { azureHarness, startAzurite, wrongKey, type AzuriteServer } from "../support/azurite.ts";
import { freePort } from "../support/net.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";
import { BlobError, type BlobStore } from "../../src/blob/port.ts";
import { openAzure } from "../../src/backends/azure/store.ts";
import { DEV_KEY, parseConnectionString } from "../../src/backends/azure/connection.ts";
import { openCredential, redact, withSas } from "../../src/backends/azure/credentials.ts";
import { canonicalResource, sharedKeySigner, stringToSign } from "../../src/backends/azure/sharedkey.ts";
import { parseListPage } from "../../src/backends/azure/list.ts";

blobContract("azure (Azurite)", azureHarness);

const KEY = DEV_KEY;
const SECRET = "client-secret-value-Zq9";
let dead: string;
let azurite: AzuriteServer;
beforeAll(async () => {
  dead = `http://127.0.0.1:${await freePort()}`;
  azurite = await startAzurite();
  await azurite.createContainer("own");
});
afterAll(async () => {
  await azurite?.destroy();
  cleanupTempDirs();
});

/** An environment with none of the real machine's credentials: no `az`, IMDS at a dead port. */
const bare = (more: Record<string, string> = {}) => ({ PATH: "", GOCACHE_AZURE_IMDS_ENDPOINT: dead, ...more });
const store = (env: Record<string, string | undefined>, container = "cont", account = "acct") =>
  openAzure({ backend: "azure", account, container }, { env, timeoutMs: 5_000, listPageSize: 1000 });
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error("expected a failure"); }, (e: unknown) => e as BlobError);
/** Everything an error could show: messages, inspected properties and causes, down the chain. */
function shown(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as Error | undefined, i = 0; e && i < 5; e = e.cause as Error | undefined, i++) parts.push(Bun.inspect(e), JSON.stringify(e), String(e.message));
  return parts.join("\n");
}
const request = (url: string) => ({ method: "GET", url: new URL(url), headers: {} as Record<string, string>, contentLength: 0 });

describe("connection strings", () => {
  test.each([
    ["key and endpoint", `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:10000/acct/;`, { endpoint: "http://127.0.0.1:10000/acct", key: KEY }],
    ["key only: the public cloud over https", `AccountName=acct;AccountKey=${KEY}`, { endpoint: "https://acct.blob.core.windows.net", key: KEY }],
    ["protocol and suffix", `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.chinacloudapi.cn`, { endpoint: "https://acct.blob.core.chinacloudapi.cn", key: KEY }],
    ["SAS with endpoint, no account name", "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2022-11-02&sp=r&sig=abc%2B%3D", { endpoint: "https://acct.blob.core.windows.net", sas: "sv=2022-11-02&sp=r&sig=abc%2B%3D" }],
    ["key and SAS: the key signs", `AccountName=acct;AccountKey=${KEY};SharedAccessSignature=sp=r&sig=x`, { endpoint: "https://acct.blob.core.windows.net", key: KEY }],
    ["names in any case, other services ignored", `accountname=acct;ACCOUNTKEY=${KEY};QueueEndpoint=http://q;;`, { endpoint: "https://acct.blob.core.windows.net", key: KEY }],
  ])("%s", (_label, text, expected) => {
    expect(parseConnectionString(text, "acct")).toEqual(expected);
  });

  test("UseDevelopmentStorage=true is Azurite's account on its default port", () => {
    expect(parseConnectionString("UseDevelopmentStorage=true", "devstoreaccount1")).toEqual({ endpoint: "http://127.0.0.1:10000/devstoreaccount1", key: DEV_KEY });
  });

  test.each([
    ["another account", `AccountName=other;AccountKey=${KEY}`, 'AccountName "other" is not the account in the bucket URL ("acct")'],
    ["development storage for another account", "UseDevelopmentStorage=true", "UseDevelopmentStorage is the account devstoreaccount1"],
    ["a part without =", `AccountName=acct;${KEY}`, "malformed part"],
    ["a misspelt setting", `AccountName=acct;AccountKy=${KEY}`, "unknown setting AccountKy"],
    ["a setting twice", `AccountName=acct;AccountName=acct;AccountKey=${KEY}`, "AccountName is given twice"],
    ["a key that is not base64", "AccountName=acct;AccountKey=not base64 at all!!", "not base64"],
    ["no secret", "AccountName=acct;BlobEndpoint=https://acct.blob.core.windows.net", "neither AccountKey nor SharedAccessSignature"],
    ["an endpoint that is not http(s)", `AccountKey=${KEY};BlobEndpoint=ftp://host/acct`, "must be a plain http(s) URL"],
    ["an unknown protocol", `DefaultEndpointsProtocol=gopher;AccountKey=${KEY}`, "must be https or http"],
    ["plain http to Azure (credentials in clear)", `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${KEY}`, "would send credentials in clear"],
    ["plain http to a host that is not this machine", `AccountKey=${KEY};BlobEndpoint=http://192.0.2.2/acct`, "must be https (plain http only to this machine)"],
    ["a SAS without a signature", "SharedAccessSignature=sv=2022-11-02&sp=r", "no sig="],
    ["far too long", `AccountKey=${KEY};${"x".repeat(9000)}`, "longer than"],
  ])("refused: %s", (_label, text, message) => {
    const err = (() => { try { parseConnectionString(text, "acct"); } catch (e) { return e as Error; } })();
    expect(err?.message).toContain(message);
    expect(shown(err)).not.toContain(KEY);
  });

  test("through the store: one denied line naming the container and the variable, never the key", async () => {
    const err = await failure(Promise.resolve().then(() => store({ AZURE_STORAGE_CONNECTION_STRING: `AccountName=other;AccountKey=${KEY}` })));
    expect(err).toBeInstanceOf(BlobError);
    expect(err.kind).toBe("denied");
    expect(err.message).toStartWith("[azure] az://acct/cont: AZURE_STORAGE_CONNECTION_STRING: AccountName");
    expect(err.message).not.toContain("\n");
    expect(shown(err)).not.toContain(KEY);
  });
});

describe("Shared Key", () => {
  // Microsoft's "Authorize with Shared Key" page: its Blob string-to-sign example and canonicalized-resource examples.
  test("the documented string to sign", () => {
    const req = { ...request("https://myaccount.blob.core.windows.net/myaccount/mycontainer?restype=container&comp=metadata&timeout=20"), headers: { "x-ms-date": "Sun, 11 Oct 2009 21:49:13 GMT", "x-ms-version": "2009-09-19" } };
    expect(stringToSign("myaccount", req)).toBe("GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2009-09-19\n/myaccount/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20");
  });

  test.each([
    ["https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=metadata", "/myaccount/mycontainer\ncomp:metadata\nrestype:container"],
    ["https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=list&include=snapshots&include=metadata&include=uncommittedblobs", "/myaccount/mycontainer\ncomp:list\ninclude:metadata,snapshots,uncommittedblobs\nrestype:container"],
    ["https://myaccount-secondary.blob.core.windows.net/mycontainer/myblob", "/myaccount/mycontainer/myblob"],
    ["http://127.0.0.1:10000/myaccount/c?prefix=a%2Fb&Marker=m", "/myaccount/myaccount/c\nmarker:m\nprefix:a/b"],
  ])("the canonicalized resource of %s", (url, expected) => {
    expect(canonicalResource("myaccount", new URL(url))).toBe(expected);
  });

  test("a Put Blob signs its length, type and condition in their places, and x-ms-* headers sorted", () => {
    const req = { method: "put", url: new URL("https://a.blob.core.windows.net/c/k"), headers: { "x-ms-version": "v", "X-MS-Date": "d", "x-ms-blob-type": " Block  Blob ", "Content-Type": "application/octet-stream", "If-None-Match": "*" }, contentLength: 42 };
    expect(stringToSign("a", req)).toBe("PUT\n\n\n42\n\napplication/octet-stream\n\n\n\n*\n\n\nx-ms-blob-type:Block Blob\nx-ms-date:d\nx-ms-version:v\n/a/c/k");
    expect(stringToSign("a", { ...req, contentLength: 0 }).split("\n")[3]).toBe("");
  });

  test("the signature is HMAC-SHA256 under the decoded key (checked with node:crypto)", () => {
    const req = { ...request("https://acct.blob.core.windows.net/c/k"), headers: { "x-ms-date": "Mon, 01 Jan 2024 00:00:00 GMT", "x-ms-version": "2025-01-05" } };
    const mac = createHmac("sha256", Buffer.from(KEY, "base64")).update(stringToSign("acct", req)).digest("base64");
    expect(sharedKeySigner("acct", KEY)(req)).toBe(`SharedKey acct:${mac}`);
  });

  test.each([
    ["AZURE_STORAGE_KEY", { AZURE_STORAGE_KEY: KEY }, "AZURE_STORAGE_KEY"],
    ["with a matching AZURE_STORAGE_ACCOUNT", { AZURE_STORAGE_KEY: KEY, AZURE_STORAGE_ACCOUNT: "acct" }, "AZURE_STORAGE_KEY"],
  ])("%s signs for the public endpoint", async (_label, env, source) => {
    const cred = openCredential({ account: "acct", container: "cont", env: bare(env), timeoutMs: 1000 });
    const req = { ...request(`${cred.endpoint}/cont/k`), headers: { "x-ms-date": "d", "x-ms-version": "v" } as Record<string, string> };
    await cred.authorize(req);
    expect(cred.endpoint).toBe("https://acct.blob.core.windows.net");
    expect(cred.source()).toBe(source);
    expect(req.headers.Authorization as string).toBe(sharedKeySigner("acct", KEY)({ ...req, headers: { "x-ms-date": "d", "x-ms-version": "v" } }));
  });

  test.each([
    ["another AZURE_STORAGE_ACCOUNT", { AZURE_STORAGE_KEY: KEY, AZURE_STORAGE_ACCOUNT: "other" }, "AZURE_STORAGE_ACCOUNT: \"other\" is not the account"],
    ["a key that is not base64", { AZURE_STORAGE_KEY: "short" }, "AZURE_STORAGE_KEY: the account key is not base64"],
  ])("refused: %s", (_label, env, message) => {
    const err = (() => { try { openCredential({ account: "acct", container: "cont", env: bare(env), timeoutMs: 1000 }); } catch (e) { return e as BlobError; } })();
    expect(err?.kind).toBe("denied");
    expect(err?.message).toStartWith(`[azure] az://acct/cont: ${message}`);
    expect(shown(err)).not.toContain(KEY);
  });

  test("a refused key is denied, names the credential source, and shows neither key", async () => {
    const bad = wrongKey();
    const s = store({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString({ key: bad }) }, "own", azurite.account);
    const err = await failure(s.write("k/x", new Uint8Array([1])));
    expect(err.kind).toBe("denied");
    expect(err.status).toBe(403);
    expect(err.message).toBe("[azure] write az://devstoreaccount1/own/k/x: HTTP 403 AuthorizationFailure (credential: AZURE_STORAGE_CONNECTION_STRING (AccountKey))");
    expect(shown(err)).not.toContain(bad);
    expect(await azurite.listKeys("own")).not.toContain("k/x");
  });
});

describe("SAS", () => {
  test.each([
    ["https://a/c/k", "sp=r&sig=x", "https://a/c/k?sp=r&sig=x"],
    ["https://a/c?restype=container&comp=list", "sp=r&sig=x", "https://a/c?restype=container&comp=list&sp=r&sig=x"],
  ])("appended to %s", (url, sas, expected) => {
    expect(withSas(new URL(url), sas).href).toBe(expected);
  });

  test.each([
    ["https://a/c/k?sv=1&sig=abc%2Bdef&sp=r", "https://a/c/k?sv=1&sig=REDACTED&sp=r"],
    ["fetch https://a/c?SIG=x failed", "fetch https://a/c?sig=REDACTED failed"],
  ])("redacted: %s", (text, expected) => {
    expect(redact(text)).toBe(expected);
  });

  test("AZURE_STORAGE_SAS_TOKEN with a leading ? is appended once, with no Authorization header", async () => {
    const cred = openCredential({ account: "acct", container: "cont", env: bare({ AZURE_STORAGE_SAS_TOKEN: "?sv=2022-11-02&sp=r&sig=abc" }), timeoutMs: 1000 });
    const req = request("https://acct.blob.core.windows.net/cont/k");
    expect((await cred.authorize(req)).href).toBe("https://acct.blob.core.windows.net/cont/k?sv=2022-11-02&sp=r&sig=abc");
    expect(req.headers.Authorization).toBeUndefined();
    expect(cred.source()).toBe("AZURE_STORAGE_SAS_TOKEN");
  });

  test("an account SAS in a connection string works against Azurite, and a forged one is denied", async () => {
    const sas = azurite.accountSas();
    const s = store({ AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=${azurite.endpoint};SharedAccessSignature=${sas}` }, "own", azurite.account);
    expect(await s.write("sas/k", new TextEncoder().encode("via sas"))).toBe("written");
    expect(new TextDecoder().decode(await s.read("sas/k", 100))).toBe("via sas");
    const listed = [];
    for await (const i of s.list("sas/")) listed.push(i.key);
    expect(listed).toEqual(["sas/k"]);
    const forged = store({ AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=${azurite.endpoint};SharedAccessSignature=${sas.replace(/sig=[^&]+/, "sig=Zm9yZ2Vk")}` }, "own", azurite.account);
    const err = await failure(forged.read("sas/k", 100));
    expect(err.kind).toBe("denied");
    expect(err.message).toContain("(credential: AZURE_STORAGE_CONNECTION_STRING (SharedAccessSignature))");
  });

  test("a network failure shows no SAS signature anywhere in the error", async () => {
    const s = store({ AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=${dead}/acct;SharedAccessSignature=sv=1&sig=TOPSECRETSIG` });
    const err = await failure(s.read("k/x", 100));
    expect(err.kind).toBe("unavailable");
    expect(err.message).toStartWith("[azure] read az://acct/cont/k/x:");
    expect(shown(err)).not.toContain("TOPSECRETSIG");
  });
});

interface Seen { method: string; path: string; query: URLSearchParams; headers: Headers; body: string }
/** A loopback server answering with `answer`, keeping every request it saw. */
function standIn(answer: (req: Seen, n: number, base: string) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const server: Bun.Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req): Promise<Response> {
      const u = new URL(req.url);
      const s = { method: req.method, path: u.pathname, query: u.searchParams, headers: req.headers, body: await req.text() };
      seen.push(s);
      return answer(s, seen.length, `http://127.0.0.1:${server.port}`);
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, [Symbol.dispose]: () => server.stop(true) };
}
const tokenAnswer = (n: number, expiresIn: number | string = 3600) => Response.json({ token_type: "Bearer", expires_in: expiresIn, access_token: `token-number-${n}-abcdefgh` });
const credential = (env: Record<string, string>) => openCredential({ account: "acct", container: "cont", env: bare(env), timeoutMs: 5_000 });
async function bearer(cred: ReturnType<typeof openCredential>): Promise<string | undefined> {
  const req = request("https://acct.blob.core.windows.net/cont/k");
  await cred.authorize(req);
  return req.headers.Authorization;
}
const MISSING = "[azure] az://acct/cont: no credentials found: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or configure a managed identity / workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE)";
const SP = "service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)";
const JWT = (n: number) => `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ${n}In0.c2lnbmF0dXJl`;
const form = (s: Seen) => Object.fromEntries(new URLSearchParams(s.body));

describe("Entra ID tokens", () => {
  test("a service principal posts the client-credentials grant to the tenant's token endpoint", async () => {
    using t = standIn((_s, n) => tokenAnswer(n));
    const cred = credential({ AZURE_TENANT_ID: "tenant-1", AZURE_CLIENT_ID: "client-1", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: t.url });
    expect(await bearer(cred)).toBe("Bearer token-number-1-abcdefgh");
    expect(t.seen.map((s) => [s.method, s.path, s.headers.get("content-type")])).toEqual([["POST", "/tenant-1/oauth2/v2.0/token", "application/x-www-form-urlencoded"]]);
    expect(form(t.seen[0]!)).toEqual({ grant_type: "client_credentials", client_id: "client-1", client_secret: SECRET, scope: "https://storage.azure.com/.default" });
    expect(cred.source()).toBe(SP);
  });

  test("a workload identity sends its federated token as the client assertion, read afresh on each refresh", async () => {
    const file = join(tempDir("azure-wi"), "token");
    writeFileSync(file, `${JWT(1)}\n`);
    using t = standIn((_s, n) => tokenAnswer(n, 30)); // shorter than the early-refresh margin: every use refreshes
    const cred = credential({ AZURE_TENANT_ID: "tenant-2", AZURE_CLIENT_ID: "client-2", AZURE_FEDERATED_TOKEN_FILE: file, AZURE_AUTHORITY_HOST: t.url });
    expect(await bearer(cred)).toBe("Bearer token-number-1-abcdefgh");
    writeFileSync(file, JWT(2));
    expect(await bearer(cred)).toBe("Bearer token-number-2-abcdefgh");
    expect(t.seen.map((s) => s.path)).toEqual(["/tenant-2/oauth2/v2.0/token", "/tenant-2/oauth2/v2.0/token"]);
    expect(form(t.seen[0]!)).toEqual({ grant_type: "client_credentials", client_id: "client-2", scope: "https://storage.azure.com/.default", client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: JWT(1) });
    expect(form(t.seen[1]!).client_assertion).toBe(JWT(2));
    expect(cred.source()).toBe("workload identity (AZURE_FEDERATED_TOKEN_FILE)");
  });

  test("a token is cached until shortly before it expires, with one refresh in flight for many requests", async () => {
    using t = standIn(async (_s, n) => (await Bun.sleep(50), tokenAnswer(n)));
    const cred = credential({ AZURE_TENANT_ID: "t", AZURE_CLIENT_ID: "c", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: t.url });
    const tokens = await Promise.all(Array.from({ length: 5 }, () => bearer(cred)));
    tokens.push(await bearer(cred));
    expect(new Set(tokens)).toEqual(new Set(["Bearer token-number-1-abcdefgh"]));
    expect(t.seen.length).toBe(1);
  });

  test("a failed early refresh keeps the token that has not expired yet", async () => {
    using t = standIn((_s, n) => (n === 1 ? tokenAnswer(n, 30) : new Response("busy", { status: 503 })));
    const cred = credential({ AZURE_TENANT_ID: "t", AZURE_CLIENT_ID: "c", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: t.url });
    expect(await bearer(cred)).toBe("Bearer token-number-1-abcdefgh");
    expect(await bearer(cred)).toBe("Bearer token-number-1-abcdefgh");
    expect(t.seen.length).toBe(2);
  });

  test("a refused secret is one denied line with the service's codes, through the store, and never the secret", async () => {
    using t = standIn(() => Response.json({ error: "invalid_client", error_description: `AADSTS7000215: Invalid client secret ${SECRET}`, error_codes: [7000215] }, { status: 401 }));
    const s = store(bare({ AZURE_TENANT_ID: "t", AZURE_CLIENT_ID: "c", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: t.url }));
    const err = await failure(s.read("k/x", 10));
    expect(err.kind).toBe("denied");
    expect(err.message).toBe(`[azure] az://acct/cont: ${SP}: the token request was refused: HTTP 401 invalid_client AADSTS7000215`);
    expect(shown(err)).not.toContain(SECRET);
  });

  test.each([
    ["a token with spaces", () => Response.json({ access_token: "not a token at all, it has spaces", expires_in: 3600 }), "no valid access_token"],
    ["no expiry", () => Response.json({ access_token: "token-number-1-abcdefgh" }), "no valid expiry"],
    ["not JSON", () => new Response("<html>login</html>"), "not JSON"],
    ["a huge answer", () => new Response("x".repeat(100_000)), "more than the 65536 allowed"],
  ])("a token answer with %s is refused (invalid)", async (_label, answer, message) => {
    using t = standIn(answer);
    const err = await failure(bearer(credential({ AZURE_TENANT_ID: "t", AZURE_CLIENT_ID: "c", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: t.url })));
    expect(err.kind).toBe("invalid");
    expect(err.message).toContain(message);
  });

  test.each([
    ["an http authority off this machine", { AZURE_AUTHORITY_HOST: "http://login.example.com" }, "AZURE_AUTHORITY_HOST must be an https:// URL"],
    ["a tenant that is a path", { AZURE_TENANT_ID: "../evil" }, "AZURE_TENANT_ID is not a valid id"],
  ])("refused at open: %s", (_label, env, message) => {
    const err = (() => { try { credential({ AZURE_TENANT_ID: "t", AZURE_CLIENT_ID: "c", AZURE_CLIENT_SECRET: SECRET, ...env }); } catch (e) { return e as BlobError; } })();
    expect(err?.kind).toBe("denied");
    expect(err?.message).toBe(`[azure] az://acct/cont: ${message}${message.includes("https") ? " (or http:// on this machine)" : ""}`);
  });
});

describe("managed identity and Azure CLI", () => {
  test("IMDS: probed without the Metadata header, then asked with it, for the storage resource and the client id", async () => {
    using t = standIn((s) => (s.headers.get("metadata") === "true" ? Response.json({ access_token: "imds-token-abcdefghij", expires_in: "3599", token_type: "Bearer" }) : Response.json({ error: "invalid_request" }, { status: 400 })));
    const cred = credential({ GOCACHE_AZURE_IMDS_ENDPOINT: t.url, AZURE_CLIENT_ID: "mi-client" });
    expect(await bearer(cred)).toBe("Bearer imds-token-abcdefghij");
    expect(t.seen.map((s) => [s.path, s.headers.get("metadata")])).toEqual([["/metadata/identity/oauth2/token", null], ["/metadata/identity/oauth2/token", "true"]]);
    expect(Object.fromEntries(t.seen[1]!.query)).toEqual({ "api-version": "2018-02-01", resource: "https://storage.azure.com/", client_id: "mi-client" });
    expect(cred.source()).toBe("managed identity (IMDS)");
  });

  test("App Service: IDENTITY_ENDPOINT with its header, before IMDS", async () => {
    using t = standIn(() => Response.json({ access_token: "appsvc-token-abcdefghij", expires_on: String(Math.floor(Date.now() / 1000) + 3600) }));
    const cred = credential({ IDENTITY_ENDPOINT: `${t.url}/msi/token`, IDENTITY_HEADER: "header-secret-1" });
    expect(await bearer(cred)).toBe("Bearer appsvc-token-abcdefghij");
    expect(t.seen.length).toBe(1);
    expect(t.seen[0]!.path).toBe("/msi/token");
    expect(t.seen[0]!.headers.get("x-identity-header")).toBe("header-secret-1");
    expect(Object.fromEntries(t.seen[0]!.query)).toEqual({ "api-version": "2019-08-01", resource: "https://storage.azure.com/" });
  });

  /** A fake `az` in a directory of its own: records its arguments, prints `out`, exits with `code`. */
  function fakeAz(out: string, code = 0, err = ""): { PATH: string; args: string } {
    const dir = tempDir("azure-cli");
    const args = join(dir, "args");
    writeFileSync(join(dir, "az"), `#!/bin/sh\necho "$@" > '${args}'\necho '${out}'\necho '${err}' >&2\nexit ${code}\n`);
    chmodSync(join(dir, "az"), 0o755);
    return { PATH: dir, args };
  }

  test("the Azure CLI's token, when az is on PATH and nothing else applies", async () => {
    const az = fakeAz(JSON.stringify({ accessToken: "cli-token-abcdefghijkl", expires_on: Math.floor(Date.now() / 1000) + 3600, tokenType: "Bearer" }));
    const cred = credential({ PATH: az.PATH });
    expect(await bearer(cred)).toBe("Bearer cli-token-abcdefghijkl");
    expect((await Bun.file(az.args).text()).trim()).toBe("account get-access-token --resource https://storage.azure.com/ -o json");
    expect(cred.source()).toBe("Azure CLI (az account get-access-token)");
  });

  test.each([
    ["nothing at all", {}, ` (tried: managed identity (IMDS): no answer from `],
    ["IMDS without an identity", "imds", " (tried: managed identity (IMDS): no identity assigned (HTTP 400))"],
    ["az not logged in", "az", "; Azure CLI (az account get-access-token): exit 1: run az login)"],
  ])("no credentials (%s): one denied line naming the container and what to set", async (_label, kind, tail) => {
    using t = standIn(() => Response.json({ error: "invalid_request", error_description: "Identity not found" }, { status: 400 }));
    const env: Record<string, string> = kind === "imds" ? { GOCACHE_AZURE_IMDS_ENDPOINT: t.url } : kind === "az" ? { PATH: fakeAz("", 1, "ERROR: Please run 'az login' to setup account.").PATH } : {};
    const s = store(bare(env));
    const err = await failure(s.read("k/x", 10));
    expect(err).toBeInstanceOf(BlobError);
    expect(err.kind).toBe("denied");
    expect(err.message).toStartWith(MISSING);
    expect(err.message).toContain(tail);
    expect(err.message).not.toContain("\n");
    // The finding is kept: the next request fails at once, without asking anyone again.
    const asked = t.seen.length;
    expect((await failure(s.write("k/x", new Uint8Array(1)))).message).toBe(err.message);
    expect(t.seen.length).toBe(asked);
  });
});

describe("a hostile or odd Blob endpoint", () => {
  const via = (url: string) => store({ AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=${url}/acct;SharedAccessSignature=sv=1&sig=x` });
  const listXml = (names: string[], next = "") =>
    `<?xml version="1.0"?><EnumerationResults><Blobs>${names.map((n) => `<Blob><Name>${n}</Name><Properties><Last-Modified>Mon, 01 Jan 2024 00:00:00 GMT</Last-Modified><Content-Length>1</Content-Length></Properties></Blob>`).join("")}</Blobs>${next ? `<NextMarker>${next}</NextMarker>` : "<NextMarker/>"}</EnumerationResults>`;
  const listAll = async (s: BlobStore, prefix: string) => { const out = []; for await (const i of s.list(prefix)) out.push(i.key); return out; };

  test("a code-less 404 HEAD in a container that exists is a miss (checked with Get Container Properties)", async () => {
    using t = standIn((s) => new Response(null, { status: s.query.get("restype") === "container" ? 200 : 404 }));
    expect(await via(t.url).head("k/x")).toBeUndefined();
    expect(t.seen.map((s) => `${s.method} ${s.path} ${s.query.get("restype")}`)).toEqual(["HEAD /acct/cont/k/x null", "HEAD /acct/cont container"]);
  });

  test("a code-less 404 HEAD where the container is gone is not-found, naming the store", async () => {
    using t = standIn(() => new Response(null, { status: 404 }));
    const err = await failure(via(t.url).head("k/x"));
    expect(err.kind).toBe("not-found");
    expect(err.message).toBe("[azure] head az://acct/cont/k/x: the container az://acct/cont does not exist (HTTP 404 ContainerNotFound)");
  });

  test.each([
    ["a redirect is not followed", (_s: Seen, _n: number, base: string) => new Response(null, { status: 302, headers: { location: `${base}/elsewhere` } }), "invalid", "HTTP 302: a redirect, not followed"],
    ["a busy server is unavailable", () => new Response("<Error><Code>ServerBusy</Code></Error>", { status: 503 }), "unavailable", "HTTP 503 ServerBusy"],
    ["an unknown 4xx is invalid", () => new Response(null, { status: 400, headers: { "x-ms-error-code": "InvalidHeaderValue" } }), "invalid", "HTTP 400 InvalidHeaderValue"],
    ["a huge error body is not read", () => new Response(`<Error><Code>InternalError</Code>${"x".repeat(1 << 20)}</Error>`, { status: 500 }), "unavailable", "HTTP 500"],
  ])("%s", async (_label, answer, kind, message) => {
    using t = standIn(answer);
    const err = await failure(via(t.url).read("k/x", 10));
    expect(err.kind).toBe(kind as BlobError["kind"]);
    expect(err.message).toBe(`[azure] read az://acct/cont/k/x: ${message}`);
    expect(t.seen.map((s) => s.path)).toEqual(["/acct/cont/k/x"]);
  });

  test("a body with Content-Encoding is never inflated: read gives its stored bytes, readToFile refuses it", async () => {
    const gz = Bun.gzipSync(new Uint8Array(10 << 20));
    using t = standIn(() => new Response(gz, { headers: { "content-encoding": "gzip" } }));
    expect(await via(t.url).read("k/x", gz.length)).toEqual(gz);
    const path = join(tempDir("azure-gz"), "out");
    expect((await failure(via(t.url).readToFile("k/x", path, 1 << 20))).kind).toBe("invalid");
    expect(await Bun.file(path).exists()).toBe(false);
  });

  test("a HEAD without a valid length is invalid", async () => {
    using t = standIn(() => new Response(null, { headers: { "last-modified": "yesterday-ish" } }));
    expect((await failure(via(t.url).head("k/x"))).kind).toBe("invalid");
  });

  test.each([
    ["endless empty pages", (_n: number) => listXml([], `m${_n}`), "does not advance"],
    ["a marker that repeats", () => listXml([], "same"), "does not advance"],
    ["a name outside the prefix", () => listXml(["p/a", "q/b"]), '"q/b" is not under the prefix "p/"'],
    ["a page that goes back", (n: number) => listXml(n === 1 ? ["p/b"] : ["p/a"], n === 1 ? "m" : ""), '"p/a" is out of order'],
  ])("a listing with %s is invalid", async (_label, page, message) => {
    using t = standIn((_s, n) => new Response(page(n)));
    const err = await failure(listAll(via(t.url), "p/"));
    expect(err.kind).toBe("invalid");
    expect(err.message).toContain(message);
    expect(t.seen.length).toBeLessThanOrEqual(102);
  });

  test("a listing follows NextMarker and asks with the page size and prefix", async () => {
    using t = standIn((s) => new Response(s.query.get("marker") ? listXml(["p/c"]) : listXml(["p/a", "p/b"], "next&amp;1")));
    expect(await listAll(via(t.url), "p/")).toEqual(["p/a", "p/b", "p/c"]);
    expect(t.seen.map((s) => [s.query.get("comp"), s.query.get("restype"), s.query.get("prefix"), s.query.get("maxresults"), s.query.get("marker")])).toEqual([
      ["list", "container", "p/", "1000", null],
      ["list", "container", "p/", "1000", "next&1"],
    ]);
  });

  test.each([
    ["a traversal", "a/../b"],
    ["an empty segment", "a//b"],
    ["a space", "a b"],
  ])("a key with %s is refused before any request", async (_label, key) => {
    using t = standIn(() => new Response("x"));
    expect((await failure(via(t.url).read(key, 10))).kind).toBe("invalid");
    expect(t.seen.length).toBe(0);
  });
});

describe("List Blobs pages", () => {
  const blob = (name: string, size = "3", attrs = "") => `<Blob><Name${attrs}>${name}</Name><Properties><Last-Modified>Mon, 01 Jan 2024 00:00:00 GMT</Last-Modified><Content-Length>${size}</Content-Length></Properties></Blob>`;
  const page = (...blobs: string[]) => `<EnumerationResults><Blobs>${blobs.join("")}</Blobs><NextMarker>2!ab&amp;c</NextMarker></EnumerationResults>`;
  test("names are unescaped (entities, encoded names), sizes and dates read, the marker unescaped", () => {
    expect(parseListPage(page(blob("p/a&amp;b"), blob("p/c%20d", "0", ' Encoded="true"'), blob("p/&#x65;")), "p/", "")).toEqual({
      items: [{ key: "p/a&b", size: 3, modifiedMs: Date.UTC(2024, 0, 1) }, { key: "p/c d", size: 0, modifiedMs: Date.UTC(2024, 0, 1) }, { key: "p/e", size: 3, modifiedMs: Date.UTC(2024, 0, 1) }],
      next: "2!ab&c",
    });
  });
  test.each([
    ["not a listing", "<Error/>", "", "no EnumerationResults"],
    ["a size that is not a number", page(blob("p/a", "-1")), "", "no valid Content-Length"],
    ["an unknown entity", page(blob("p/&bogus;")), "", "unknown entity"],
    ["a bare ampersand", page(blob("p/a&b")), "", "a bare &"],
    ["a key not after the previous page's last", page(blob("p/a")), "p/a", "out of order"],
  ])("refused: %s", (_label, xml, after, message) => {
    expect(() => parseListPage(xml, "p/", after)).toThrow(message);
  });
});
