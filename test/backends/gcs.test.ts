/**
 * The GCS backend: the blob contract against fake-gcs-server, then
 * credentials.ts (every credential kind against loopback stand-ins for
 * Google's token endpoints) and the store against a hostile stand-in API.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gcsEndpoint, gcsTokens, NO_CREDENTIALS } from "../../src/backends/gcs/credentials.ts";
import { openGcs } from "../../src/backends/gcs/store.ts";
import { STORAGE_SCOPE } from "../../src/backends/gcs/tokens.ts";
import { BlobError } from "../../src/blob/port.ts";
import { gcsHarness, serviceAccount, tokenStandIn, type SeenRequest } from "../support/gcs-server.ts";
import { freePort } from "../support/net.ts";
import { blobContract } from "../blob/contract.ts";

blobContract("gcs (fake-gcs-server)", gcsHarness);

const NAME = "gs://unit-bucket";
const FORM_TYPE = "application/x-www-form-urlencoded";
let dir: string;
let deadHost: string;
/** An environment with nothing to find: no files, no metadata server. */
let bare: Record<string, string>;
const stops: (() => void)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gcs-unit-"));
  deadHost = `127.0.0.1:${await freePort()}`;
  mkdirSync(join(dir, "empty"));
  bare = { HOME: join(dir, "empty"), CLOUDSDK_CONFIG: join(dir, "empty"), GCE_METADATA_HOST: deadHost };
});
afterAll(() => {
  for (const stop of stops) stop();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes `text` to a fresh file under the test directory: its path. */
function put(text: string, name = `cred-${++files}.json`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function standIn(answer: (req: SeenRequest) => Response | Promise<Response>) {
  const s = tokenStandIn(answer);
  stops.push(s.stop);
  return s;
}
const tokensFor = (env: Record<string, string>) => gcsTokens({ name: NAME, env: { ...bare, ...env }, timeoutMs: 5_000 });
const tokenAnswer = (token: string, expiresIn = 3600) => () => Response.json({ access_token: token, expires_in: expiresIn, token_type: "Bearer" });
const fromB64url = (s: string) => JSON.parse(Buffer.from(s, "base64url").toString("utf8"));

async function thrown(p: Promise<unknown>): Promise<BlobError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BlobError);
    return err as BlobError;
  }
  throw new Error("expected a failure");
}

describe("gcs endpoint", () => {
  test.each([
    ["a bare host:port emulator is plain http", { STORAGE_EMULATOR_HOST: "127.0.0.1:9023" }, "http://127.0.0.1:9023", false],
    ["a bare localhost:port emulator", { STORAGE_EMULATOR_HOST: "localhost:4443" }, "http://localhost:4443", false],
    ["an http emulator URL, trailing slash dropped", { STORAGE_EMULATOR_HOST: "http://127.0.0.1:9023/" }, "http://127.0.0.1:9023", false],
    ["an https emulator URL", { STORAGE_EMULATOR_HOST: "https://emulator.test:8443" }, "https://emulator.test:8443", false],
    ["GOCACHE_GCS_ENDPOINT keeps authentication", { GOCACHE_GCS_ENDPOINT: "https://storage-private.test/" }, "https://storage-private.test", true],
    ["a blank emulator variable is unset", { STORAGE_EMULATOR_HOST: "  " }, "https://storage.googleapis.com", true],
    ["nothing set: Google", {}, "https://storage.googleapis.com", true],
  ])("%s", (_label, env, base, authenticated) => {
    expect(gcsEndpoint(env, NAME)).toEqual({ base, authenticated });
  });

  test.each([
    ["not http(s)", { STORAGE_EMULATOR_HOST: "ftp://127.0.0.1:21" }, "STORAGE_EMULATOR_HOST is not an http(s) URL"],
    ["user info (not quoted back)", { GOCACHE_GCS_ENDPOINT: "https://user:hunter2-secret@h.test" }, "GOCACHE_GCS_ENDPOINT is not an http(s) URL"],
    ["a query", { GOCACHE_GCS_ENDPOINT: "https://h.test/?x=1" }, "GOCACHE_GCS_ENDPOINT is not an http(s) URL"],
    ["both set", { STORAGE_EMULATOR_HOST: "127.0.0.1:1", GOCACHE_GCS_ENDPOINT: "https://h.test" }, "both set"],
    ["plain http to another machine (it is sent tokens)", { GOCACHE_GCS_ENDPOINT: "http://192.0.2.2:8080" }, "must be https (plain http only to this machine)"],
  ])("refused: %s", (_label, env, fragment) => {
    let err: unknown;
    try {
      gcsEndpoint(env, NAME);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BlobError);
    expect((err as BlobError).kind).toBe("invalid");
    expect((err as Error).message).toStartWith(`[gcs] ${NAME}: `);
    expect((err as Error).message).toContain(fragment);
    expect((err as Error).message).not.toContain("hunter2");
  });
});

describe("gcs credentials: service account", () => {
  test("signs an RS256 JWT that verifies with the public key and exchanges it as a jwt-bearer grant", async () => {
    const sts = standIn(tokenAnswer("ya29.service-token"));
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    expect(await tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) }).authorization()).toBe("Bearer ya29.service-token");
    expect(sts.seen).toHaveLength(1);
    const req = sts.seen[0]!;
    expect([req.method, req.path, req.headers.get("content-type")]).toEqual(["POST", "/token", FORM_TYPE]);
    const form = new URLSearchParams(req.body);
    expect(form.get("grant_type")).toBe("urn:ietf:params:oauth:grant-type:jwt-bearer");
    const parts = form.get("assertion")!.split(".");
    expect(parts).toHaveLength(3);
    const [h, c, s] = parts as [string, string, string];
    expect(fromB64url(h)).toEqual({ alg: "RS256", typ: "JWT", kid: "0123456789abcdef0123456789abcdef01234567" });
    const claims = fromB64url(c);
    expect(claims).toMatchObject({ iss: "cache@test-project.iam.gserviceaccount.com", scope: STORAGE_SCOPE, aud: `${sts.url}/token` });
    expect(claims.exp - claims.iat).toBe(3600);
    expect(Math.abs(claims.iat - Date.now() / 1000)).toBeLessThan(60);
    const verify = (input: string) => crypto.subtle.verify("RSASSA-PKCS1-v1_5", sa.publicKey, Buffer.from(s, "base64url"), new TextEncoder().encode(input));
    expect(await verify(`${h}.${c}`)).toBe(true);
    // The check can fail: the same signature does not cover other claims.
    expect(await verify(`${h}.${Buffer.from(JSON.stringify({ ...claims, iss: "evil@x" })).toString("base64url")}`)).toBe(false);
  });
});

describe("gcs credentials: authorized user (gcloud)", () => {
  const userFile = (tokenUri: string) =>
    JSON.stringify({ type: "authorized_user", client_id: "cid.apps.googleusercontent.com", client_secret: "csecret-123456", refresh_token: "1//refresh-abcdef", token_uri: tokenUri });

  test.each([
    ["GOOGLE_APPLICATION_CREDENTIALS", (text: string) => ({ GOOGLE_APPLICATION_CREDENTIALS: put(text) })],
    ["$CLOUDSDK_CONFIG/application_default_credentials.json", (text: string) => {
      const config = mkdtempSync(join(dir, "config-"));
      writeFileSync(join(config, "application_default_credentials.json"), text);
      return { CLOUDSDK_CONFIG: config };
    }],
    ["~/.config/gcloud/application_default_credentials.json", (text: string) => {
      const home = mkdtempSync(join(dir, "home-"));
      mkdirSync(join(home, ".config", "gcloud"), { recursive: true });
      writeFileSync(join(home, ".config", "gcloud", "application_default_credentials.json"), text);
      return { HOME: home, CLOUDSDK_CONFIG: "" };
    }],
  ])("found through %s, refreshed with a refresh_token grant", async (_label, place) => {
    const oauth = standIn(tokenAnswer("ya29.user-token"));
    expect(await tokensFor(place(userFile(`${oauth.url}/token`))).authorization()).toBe("Bearer ya29.user-token");
    const form = new URLSearchParams(oauth.seen[0]!.body);
    expect(oauth.seen[0]!.headers.get("content-type")).toBe(FORM_TYPE);
    expect(Object.fromEntries(form)).toEqual({ grant_type: "refresh_token", client_id: "cid.apps.googleusercontent.com", client_secret: "csecret-123456", refresh_token: "1//refresh-abcdef" });
  });

  test("GOOGLE_APPLICATION_CREDENTIALS wins over gcloud's file", async () => {
    const explicit = standIn(tokenAnswer("ya29.explicit"));
    const gcloud = standIn(tokenAnswer("ya29.gcloud"));
    const config = mkdtempSync(join(dir, "config-"));
    writeFileSync(join(config, "application_default_credentials.json"), userFile(`${gcloud.url}/token`));
    const t = tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(userFile(`${explicit.url}/token`)), CLOUDSDK_CONFIG: config });
    expect(await t.authorization()).toBe("Bearer ya29.explicit");
    expect(gcloud.seen).toHaveLength(0);
  });
});

describe("gcs credentials: external account (workload identity federation)", () => {
  test.each([
    ["a text subject-token file", false, () => ({ file: put("subject-abc.def\n", `subject-${++files}.txt`) })],
    ["a JSON subject-token file", false, () => ({ file: put(JSON.stringify({ id_token: "subject-abc.def" }), `subject-${++files}.json`), format: { type: "json", subject_token_field_name: "id_token" } })],
    ["a subject-token URL with headers", false, (url: string) => ({ url: `${url}/subject`, headers: { "X-Identity": "yes" }, format: { type: "json", subject_token_field_name: "access_token" } })],
    ["a file, then service-account impersonation", true, () => ({ file: put("subject-abc.def", `subject-${++files}.txt`) })],
  ])("%s is exchanged at the STS token_url", async (_label, impersonate, source) => {
    const google = standIn(async (req) => {
      if (req.path === "/subject") return req.headers.get("x-identity") === "yes" ? Response.json({ access_token: "subject-abc.def" }) : new Response("no", { status: 403 });
      if (req.path === "/sts") return Response.json({ access_token: "sts-federated-token", expires_in: 3600, issued_token_type: "urn:ietf:params:oauth:token-type:access_token", token_type: "Bearer" });
      if (req.path === "/impersonate") return Response.json({ accessToken: "ya29.impersonated", expireTime: new Date(Date.now() + 3600_000).toISOString() });
      return new Response("unexpected", { status: 500 });
    });
    const file = JSON.stringify({
      type: "external_account",
      audience: "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/ci",
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      token_url: `${google.url}/sts`,
      credential_source: source(google.url),
      ...(impersonate ? { service_account_impersonation_url: `${google.url}/impersonate` } : {}),
    });
    const auth = await tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(file) }).authorization();
    expect(auth).toBe(impersonate ? "Bearer ya29.impersonated" : "Bearer sts-federated-token");
    const sts = google.seen.find((r) => r.path === "/sts")!;
    expect(sts.headers.get("content-type")).toBe(FORM_TYPE);
    expect(Object.fromEntries(new URLSearchParams(sts.body))).toEqual({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      audience: "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/ci",
      scope: impersonate ? "https://www.googleapis.com/auth/cloud-platform" : STORAGE_SCOPE,
      requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
      subject_token: "subject-abc.def",
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
    });
    const imp = google.seen.find((r) => r.path === "/impersonate");
    expect(imp === undefined).toBe(!impersonate);
    if (imp) {
      expect(imp.headers.get("authorization")).toBe("Bearer sts-federated-token");
      expect(JSON.parse(imp.body)).toEqual({ scope: [STORAGE_SCOPE], lifetime: "3600s" });
    }
  });
});

describe("gcs credentials: the metadata server", () => {
  test("answers with Metadata-Flavor: Google: its token is used", async () => {
    const md = standIn((req) => req.headers.get("metadata-flavor") === "Google" ? Response.json({ access_token: "ya29.vm-token", expires_in: 3599, token_type: "Bearer" }, { headers: { "Metadata-Flavor": "Google" } }) : new Response("", { status: 403 }));
    expect(await tokensFor({ GCE_METADATA_HOST: md.url.slice("http://".length) }).authorization()).toBe("Bearer ya29.vm-token");
    expect(md.seen[0]!.path).toBe("/computeMetadata/v1/instance/service-accounts/default/token");
  });

  test.each([
    ["nothing listening", () => deadHost],
    ["an answer without Metadata-Flavor (not a metadata server)", () => standIn(tokenAnswer("ya29.impostor")).url.slice("http://".length)],
  ])("no credentials anywhere (%s): one line saying what to set, remembered", async (_label, host) => {
    const t = tokensFor({ GCE_METADATA_HOST: host() });
    const err = await thrown(t.authorization());
    expect(err.kind).toBe("denied");
    expect(err.message).toBe(`[gcs] ${NAME}: ${NO_CREDENTIALS}`);
    expect(err.message).not.toContain("\n");
    const again = Date.now();
    expect(await thrown(t.authorization())).toBe(err);
    expect(Date.now() - again).toBeLessThan(50);
  });

  test("a store without credentials names the operation, the key and what to set", async () => {
    const store = openGcs({ backend: "gcs", bucket: "unit-bucket" }, { env: bare, timeoutMs: 5_000, listPageSize: 10 });
    const err = await thrown(store.read("some/key", 10));
    expect(err.kind).toBe("denied");
    expect(err.message).toBe(`[gcs] read ${NAME}/some/key: ${NO_CREDENTIALS}`);
    store.close();
  });
});

describe("gcs credentials: caching", () => {
  test("a token is reused; concurrent callers share one refresh", async () => {
    const sts = standIn(async () => (await Bun.sleep(20), tokenAnswer(`ya29.t${sts.seen.length}`)()));
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    const t = tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) });
    const all = await Promise.all(Array.from({ length: 5 }, () => t.authorization()));
    expect(new Set(all)).toEqual(new Set(["Bearer ya29.t1"]));
    expect(await t.authorization()).toBe("Bearer ya29.t1");
    expect(sts.seen).toHaveLength(1);
    t.invalidate();
    expect(await t.authorization()).toBe("Bearer ya29.t2");
    expect(sts.seen).toHaveLength(2);
  });

  test("a token within a minute of expiry is refreshed", async () => {
    const sts = standIn(() => tokenAnswer(`ya29.short${sts.seen.length}`, 30)());
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    const t = tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) });
    expect(await t.authorization()).toBe("Bearer ya29.short1");
    expect(await t.authorization()).toBe("Bearer ya29.short2");
    expect(sts.seen).toHaveLength(2);
  });
});

describe("gcs credentials: refusals and bad answers", () => {
  test.each([
    [400, "denied", { error: "invalid_grant", error_description: "Invalid JWT Signature." }, "HTTP 400 invalid_grant: Invalid JWT Signature."],
    [401, "denied", { error: "unauthorized_client" }, "HTTP 401 unauthorized_client"],
    [403, "denied", { error: { status: "PERMISSION_DENIED", message: "The caller does not have permission" } }, "HTTP 403 PERMISSION_DENIED: The caller does not have permission"],
    [503, "unavailable", { error: "backendError" }, "HTTP 503 backendError"],
  ] as const)("HTTP %i from the token endpoint is %s, in one line naming the bucket", async (status, kind, body, fragment) => {
    const sts = standIn(() => Response.json(body, { status }));
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    const err = await thrown(tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) }).authorization());
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(status);
    expect(err.message).toStartWith(`[gcs] ${NAME}: GOOGLE_APPLICATION_CREDENTIALS file `);
    expect(err.message).toContain(fragment);
    if (kind === "denied") expect(err.message).toContain("fix or replace the file GOOGLE_APPLICATION_CREDENTIALS names");
    expect(err.message).not.toContain("\n");
  });

  test("a refusal is remembered for a while: the token endpoint is not asked again at once", async () => {
    const sts = standIn(() => Response.json({ error: "invalid_grant" }, { status: 400 }));
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    const t = tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) });
    const first = await thrown(t.authorization());
    expect(await thrown(t.authorization())).toBe(first);
    expect(sts.seen).toHaveLength(1);
  });

  test.each([
    ["no access_token", () => Response.json({ expires_in: 3600 })],
    ["not JSON", () => new Response("<html>hello</html>")],
    ["a token with a line break", () => Response.json({ access_token: "ya29.a\r\nX-Evil: 1", expires_in: 3600 })],
    ["a negative lifetime", () => Response.json({ access_token: "ya29.ok", expires_in: -5 })],
    ["an endless body", () => new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(64 << 10)) }))],
  ])("a token answer with %s is refused", async (_label, answer) => {
    const sts = standIn(answer);
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    const err = await thrown(tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) }).authorization());
    expect(err.kind).toBe("invalid");
    expect(err.message).toStartWith(`[gcs] ${NAME}: `);
  });
});

describe("gcs credentials: secrets never reach a message", () => {
  /** A token endpoint that quotes everything it was sent back in its refusal. */
  const echo = () => standIn((req) => Response.json({ error: "invalid_grant", error_description: `${req.body} ${req.headers.get("authorization") ?? ""}` }, { status: 400 }));

  test("a service account's key and assertion", async () => {
    const sts = echo();
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    const err = await thrown(tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) }).authorization());
    const assertion = new URLSearchParams(sts.seen[0]!.body).get("assertion")!;
    expect(err.message).toContain("invalid_grant");
    expect(err.message).not.toContain(assertion);
    expect(err.message).not.toContain(assertion.split(".")[2]!.slice(0, 40));
    for (const line of sa.pem.split("\n").slice(1, 3)) expect(err.message).not.toContain(line);
  });

  test("a user's refresh token and client secret", async () => {
    const sts = echo();
    const file = put(JSON.stringify({ type: "authorized_user", client_id: "cid", client_secret: "csecret-zz9-plural", refresh_token: "1//refresh-zz9-plural-z-alpha", token_uri: `${sts.url}/token` }));
    const err = await thrown(tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: file }).authorization());
    expect(err.message).toContain("HTTP 400");
    expect(err.message).not.toContain("refresh-zz9");
    expect(err.message).not.toContain("csecret-zz9");
  });

  test("a federated subject token", async () => {
    const sts = echo();
    const file = put(JSON.stringify({ type: "external_account", audience: "aud", subject_token_type: "urn:ietf:params:oauth:token-type:jwt", token_url: `${sts.url}/sts`, credential_source: { file: put("subject-secret-zz9-plural", `subject-${++files}.txt`) } }));
    const err = await thrown(tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: file }).authorization());
    expect(err.message).toContain("HTTP 400");
    expect(err.message).not.toContain("subject-secret-zz9");
  });
});

describe("gcs credentials: malformed or oversized files are refused", () => {
  const sa = (over: Record<string, unknown>) =>
    JSON.stringify({ type: "service_account", client_email: "a@b.iam.gserviceaccount.com", private_key: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", token_uri: "https://oauth2.googleapis.com/token", ...over });
  test.each([
    ["not JSON (and not quoted)", () => put('{"type":"service_account","private_key":"SECRET-zz9-plural'), "is not valid JSON"],
    ["a JSON array", () => put("[]"), "is not a JSON object"],
    ["no type", () => put("{}"), "has type missing or unknown"],
    ["an unsupported type", () => put(JSON.stringify({ type: "impersonated_service_account" })), 'has type "impersonated_service_account"'],
    ["a service account without private_key", () => put(sa({ private_key: undefined })), '"private_key" is missing'],
    ["a private_key that is not PEM (and not quoted)", () => put(sa({ private_key: "SECRET-zz9-plural" })), '"private_key" is not a PEM PKCS#8 private key'],
    ["a PEM private_key that is not an RSA key", () => put(sa({ token_uri: "http://127.0.0.1:9/token" })), '"private_key" is not a usable RSA private key'],
    ["a plain-http token_uri to another host", () => put(sa({ token_uri: "http://oauth.evil.test/token" })), '"token_uri" is not an https URL'],
    ["an authorized user without refresh_token", () => put(JSON.stringify({ type: "authorized_user", client_id: "c", client_secret: "s" })), '"refresh_token" is missing'],
    ["an external account with an executable source", () => put(JSON.stringify({ type: "external_account", audience: "a", subject_token_type: "t", credential_source: { executable: { command: "/bin/sh" } } })), 'exactly one of "file" or "url"'],
    ["an external account with a plain-http token_url", () => put(JSON.stringify({ type: "external_account", audience: "a", subject_token_type: "t", token_url: "http://sts.evil.test/v1/token", credential_source: { file: "/x" } })), '"token_url" is not an https URL'],
    ["a file over 64 KiB", () => put(JSON.stringify({ type: "service_account", pad: "x".repeat(70_000) })), "more than the 65536 allowed"],
    ["a directory", () => mkdtempSync(join(dir, "notafile-")), "is not a regular file"],
    ["a missing file", () => join(dir, "no-such-file.json"), "cannot be read (ENOENT)"],
  ])("%s", async (_label, path, fragment) => {
    const file = path();
    const err = await thrown(tokensFor({ GOOGLE_APPLICATION_CREDENTIALS: file }).authorization());
    expect(err.kind).toBe("denied");
    expect(err.message).toStartWith(`[gcs] ${NAME}: GOOGLE_APPLICATION_CREDENTIALS file ${file}`);
    expect(err.message).toContain(fragment);
    expect(err.message).toContain("fix or replace the file GOOGLE_APPLICATION_CREDENTIALS names");
    expect(err.message).not.toContain("SECRET-zz9");
    expect(err.message).not.toContain("\n");
  });
});

describe("gcs store against a hostile stand-in API", () => {
  let answer: (req: SeenRequest) => Response | Promise<Response> = () => new Response("", { status: 500 });
  let api: ReturnType<typeof tokenStandIn>;
  let store: ReturnType<typeof openGcs>;
  beforeAll(() => {
    api = standIn((req) => answer(req));
    store = openGcs({ backend: "gcs", bucket: "unit-bucket" }, { env: { STORAGE_EMULATOR_HOST: api.url }, timeoutMs: 5_000, listPageSize: 2 });
  });
  afterAll(() => store.close());
  const obj = (name: string, size: unknown = "3", updated: unknown = "2026-01-02T03:04:05.678Z") => ({ name, size, updated });

  test("an emulator is sent no Authorization; keys are escaped as one path segment", async () => {
    answer = () => new Response("abc");
    expect(new TextDecoder().decode(await store.read("a/b.c", 10))).toBe("abc");
    const req = api.seen.at(-1)!;
    expect(req.headers.get("authorization")).toBeNull();
    expect(req.path).toBe("/storage/v1/b/unit-bucket/o/a%2Fb.c");
  });

  test.each([
    ["head: a negative size", "head", () => Response.json(obj("k", "-1"))],
    ["head: a size that is not a number", "head", () => Response.json(obj("k", "3e3"))],
    ["head: an unsafe size", "head", () => Response.json(obj("k", "9999999999999999"))],
    ["head: another key", "head", () => Response.json(obj("other"))],
    ["head: no update time", "head", () => Response.json(obj("k", "3", "yesterday"))],
    ["head: not JSON", "head", () => new Response("{not json")],
    ["write: another size recorded", "write", () => Response.json(obj("k", "999"))],
    ["list: a key outside the prefix", "list", () => Response.json({ items: [obj("p/a"), obj("q/b")] })],
    ["list: keys out of order", "list", () => Response.json({ items: [obj("p/b"), obj("p/a")] })],
    ["list: items that are not a list", "list", () => Response.json({ items: { name: "p/a" } })],
    ["list: a page token that never moves on", "list", () => Response.json({ items: [], nextPageToken: "same" })],
    ["read to file: a gzip body (its length bounds only the compressed bytes)", "readToFile", () => new Response(Bun.gzipSync(new Uint8Array(1 << 20)), { headers: { "content-encoding": "gzip" } })],
  ] as const)("%s is refused as invalid", async (_label, op, reply) => {
    answer = reply;
    const run = {
      head: () => store.head("k"),
      write: () => store.write("k", new Uint8Array(3)),
      list: async () => { for await (const _ of store.list("p/")) { /* drain */ } },
      readToFile: () => store.readToFile("k", join(dir, "bomb"), 64 << 10),
    }[op];
    const err = await thrown(run());
    expect(err.kind).toBe("invalid");
    expect(err.message).toStartWith(`[gcs] ${op === "readToFile" ? "read" : op} ${NAME}/`);
  });

  test("list pages are followed with their token, in order", async () => {
    answer = (req) => (new URL(req.url).searchParams.has("pageToken") ? Response.json({ items: [obj("p/3")] }) : Response.json({ items: [obj("p/1"), obj("p/2")], nextPageToken: "page+2/=" }));
    const keys = [];
    for await (const info of store.list("p/")) keys.push(info.key);
    expect(keys).toEqual(["p/1", "p/2", "p/3"]);
    const [first, second] = api.seen.slice(-2).map((r) => new URL(r.url).searchParams);
    expect([first!.get("prefix"), first!.get("maxResults"), first!.get("pageToken")]).toEqual(["p/", "2", null]);
    expect(second!.get("pageToken")).toBe("page+2/=");
  });

  test.each([
    [403, "denied"],
    [429, "unavailable"],
    [500, "unavailable"],
    [400, "invalid"],
  ] as const)("HTTP %i is %p, naming the key and GCS's reason, with a bounded read of a huge error body", async (status, kind) => {
    const huge = JSON.stringify({ error: { code: status, message: "go away", errors: [{ reason: "someReason", message: "x".repeat(2 << 20) }] } });
    answer = () => new Response(huge, { status, headers: { "content-type": "application/json" } });
    const err = await thrown(store.read("some/key", 100));
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(status);
    expect(err.message).toStartWith(`[gcs] read ${NAME}/some/key: HTTP ${status}`);
    expect(err.message.length).toBeLessThan(400);
  });

  test("a redirect is not followed", async () => {
    const target = standIn(() => new Response("elsewhere"));
    answer = () => new Response(null, { status: 302, headers: { location: `${target.url}/x` } });
    const err = await thrown(store.read("k", 100));
    expect(err.status).toBe(302);
    expect(target.seen).toHaveLength(0);
  });

  test("an API error quoting the bearer token is redacted", async () => {
    const sts = standIn(tokenAnswer("ya29.bearer-zz9-plural"));
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    const gcs = standIn((req) => Response.json({ error: { code: 403, message: `${req.headers.get("authorization")} may not read this`, errors: [{ reason: "forbidden" }] } }, { status: 403 }));
    const authed = openGcs({ backend: "gcs", bucket: "unit-bucket" }, { env: { ...bare, GOCACHE_GCS_ENDPOINT: gcs.url, GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) }, timeoutMs: 5_000, listPageSize: 10 });
    const err = await thrown(authed.read("k", 10));
    expect(err.kind).toBe("denied");
    expect(err.message).toContain("may not read this");
    expect(err.message).not.toContain("bearer-zz9");
    authed.close();
  });

  test("a 401 from the API drops the cached token: the next request fetches a new one", async () => {
    const sts = standIn(() => tokenAnswer(`ya29.n${sts.seen.length}`)());
    const sa = await serviceAccount({ tokenUri: `${sts.url}/token` });
    const gcs = standIn((req) => (req.headers.get("authorization") === "Bearer ya29.n2" ? new Response("ok") : Response.json({ error: { code: 401, message: "Invalid Credentials", errors: [{ reason: "authError" }] } }, { status: 401 })));
    const authed = openGcs({ backend: "gcs", bucket: "unit-bucket" }, { env: { ...bare, GOCACHE_GCS_ENDPOINT: gcs.url, GOOGLE_APPLICATION_CREDENTIALS: put(sa.json) }, timeoutMs: 5_000, listPageSize: 10 });
    const err = await thrown(authed.read("k", 10));
    expect([err.kind, err.code]).toEqual(["denied", "authError"]);
    expect(new TextDecoder().decode(await authed.read("k", 10))).toBe("ok");
    expect(sts.seen).toHaveLength(2);
    expect(gcs.seen.map((r) => r.headers.get("authorization"))).toEqual(["Bearer ya29.n1", "Bearer ya29.n2"]);
    authed.close();
  });
});
