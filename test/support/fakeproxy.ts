/**
 * A fake upstream module proxy for tests: Bun.serve on a free loopback port,
 * serving real module zips (built here with a small zip writer) whose go.mod
 * equals the .mod file, plus checksum-database paths with fixed bytes. It
 * counts requests per path, can be stopped and restarted on the same port,
 * can delay answers, can serve a broken zip for a chosen path, and can
 * answer any path with bytes of the test's choosing (`overrides`).
 * `lookupAnswer` and `treeNote` build well-formed checksum-database answers.
 */
import type { Server } from "bun";
import { crc32 } from "node:zlib";

const enc = new TextEncoder();

export interface ZipEntry { name: string; data: Uint8Array | string; deflate?: boolean }

/** A zip archive (stored or deflated entries, UTF-8 names, no ZIP64). */
export function writeZip(entries: ZipEntry[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const raw = typeof e.data === "string" ? enc.encode(e.data) : e.data;
    const body = e.deflate === false ? raw : Bun.deflateSync(raw as Uint8Array<ArrayBuffer>);
    const method = e.deflate === false ? 0 : 8;
    const crc = crc32(raw);
    const local = new Uint8Array(30 + name.length + body.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(6, 0x0800, true); lv.setUint16(8, method, true);
    lv.setUint16(12, 0x5821, true); lv.setUint32(14, crc, true); lv.setUint32(18, body.length, true); lv.setUint32(22, raw.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(body, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(8, 0x0800, true); cv.setUint16(10, method, true);
    cv.setUint16(14, 0x5821, true); cv.setUint32(16, crc, true); cv.setUint32(20, body.length, true); cv.setUint32(24, raw.length, true);
    cv.setUint16(28, name.length, true); cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const cdSize = centrals.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, entries.length, true); ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true); ev.setUint32(16, offset, true);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** Case-encodes a module path or version (capital -> `!` + lower case). */
export const esc = (s: string) => s.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);

export interface FakeVersion { version: string; time?: string; go?: string; source?: string }
export interface FakeModule { path: string; versions: FakeVersion[]; /** Queries (e.g. a branch) -> version. */ queries?: Record<string, string>; /** Hidden from list (pseudo-versions). */ unlisted?: string[] }

export interface FakeProxy {
  readonly url: string;
  readonly port: number;
  /** Requests seen per path (without the leading slash), since start or reset(). */
  readonly hits: Map<string, number>;
  count(pred: (path: string) => boolean): number;
  reset(): void;
  /**
   * Paths answered with a broken body: "cut" sends the first half with a
   * matching Content-Length (a zip without its central directory); "short"
   * announces the full Content-Length, sends half and closes the connection.
   */
  readonly broken: Map<string, "cut" | "short">;
  /** Paths answered only after this many milliseconds. */
  readonly delays: Map<string, number>;
  /** Paths answered 200 with these bytes instead of their own (or of a 404). */
  readonly overrides: Map<string, string | Uint8Array>;
  /** The exact bytes served for `path` (undefined when absent). */
  file(path: string): Uint8Array | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** The go.mod, source file and zip of one version. */
export function moduleFiles(path: string, v: FakeVersion): { mod: string; zip: Uint8Array } {
  const mod = `module ${path}\n\ngo ${v.go ?? "1.20"}\n`;
  const pkg = path.split("/").filter((e) => !/^v\d+$/.test(e)).pop()!.toLowerCase().replace(/[^a-z0-9]/g, "");
  const source = v.source ?? `package ${pkg}\n\n// Version says which version this is.\nfunc Version() string { return "${path} ${v.version}" }\n`;
  const prefix = `${path}@${v.version}/`;
  return { mod, zip: writeZip([{ name: `${prefix}go.mod`, data: mod }, { name: `${prefix}${pkg}.go`, data: source }, { name: `${prefix}LICENSE`, data: "fake license\n", deflate: false }]) };
}

export async function startFakeProxy(modules: FakeModule[], sumdb: Record<string, Record<string, string | Uint8Array>> = {}): Promise<FakeProxy> {
  const files = new Map<string, Uint8Array>();
  const put = (p: string, data: string | Uint8Array) => files.set(p, typeof data === "string" ? enc.encode(data) : data);
  for (const m of modules) {
    const base = esc(m.path);
    const info = (v: FakeVersion) => JSON.stringify({ Version: v.version, Time: v.time ?? "2024-01-02T03:04:05Z" });
    for (const v of m.versions) {
      const { mod, zip } = moduleFiles(m.path, v);
      put(`${base}/@v/${esc(v.version)}.info`, info(v));
      put(`${base}/@v/${esc(v.version)}.mod`, mod);
      put(`${base}/@v/${esc(v.version)}.zip`, zip);
    }
    const listed = m.versions.filter((v) => !m.unlisted?.includes(v.version));
    put(`${base}/@v/list`, listed.map((v) => `${v.version}\n`).join(""));
    const latest = listed.at(-1) ?? m.versions.at(-1);
    if (latest) put(`${base}/@latest`, info(latest));
    for (const [q, version] of Object.entries(m.queries ?? {})) put(`${base}/@v/${esc(q)}.info`, info(m.versions.find((v) => v.version === version)!));
  }
  for (const [name, entries] of Object.entries(sumdb)) for (const [p, data] of Object.entries(entries)) put(`sumdb/${name}/${p}`, data);

  const hits = new Map<string, number>();
  const broken = new Map<string, "cut" | "short">();
  const delays = new Map<string, number>();
  const overrides = new Map<string, string | Uint8Array>();
  const serve = (port: number) => Bun.serve({
    hostname: "127.0.0.1",
    port,
    async fetch(req) {
      const path = decodeURIComponent(new URL(req.url).pathname.slice(1));
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const delay = delays.get(path);
      if (delay) await Bun.sleep(delay);
      const override = overrides.get(path);
      if (override !== undefined) return new Response(override);
      const body = files.get(path);
      if (!body) return new Response(`not found: ${path}\n`, { status: 404 });
      const mode = broken.get(path);
      if (mode === "cut") return new Response(body.subarray(0, Math.floor(body.length / 2)));
      // "short": the bytes come from a raw socket that announces the full length and sends half.
      if (mode === "short") return Response.redirect(`http://127.0.0.1:${raw?.port}/${path}`, 302);
      return new Response(body);
    },
    error: () => new Response("fake proxy error\n", { status: 500 }),
  });
  const shortServer = (port: number) => Bun.listen({
    hostname: "127.0.0.1", port, socket: {
      data(sock, chunk) {
        const path = decodeURIComponent(/^GET \/(\S*)/.exec(chunk.toString())?.[1] ?? "");
        const body = files.get(path) ?? new Uint8Array(0);
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        sock.write(body.subarray(0, body.length >> 1));
        sock.end();
      },
    },
  });
  let server: Server<undefined> | undefined = serve(0);
  let raw: ReturnType<typeof shortServer> | undefined = shortServer(0);
  const port = server.port!;
  const rawPort = raw.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits,
    broken,
    delays,
    overrides,
    count: (pred) => [...hits].filter(([p]) => pred(p)).reduce((n, [, c]) => n + c, 0),
    reset: () => hits.clear(),
    file: (p) => files.get(p),
    stop: async () => {
      await server?.stop(true);
      raw?.stop(true);
      server = raw = undefined;
    },
    start: async () => {
      server ??= serve(port);
      raw ??= shortServer(rawPort);
    },
  };
}

/** The standard fake world: several versions, a /v2 module, a module with capitals, a pseudo-version. */
export function fakeModules(): FakeModule[] {
  return [
    { path: "example.com/hello", versions: [{ version: "v1.0.0" }, { version: "v1.1.0" }, { version: "v1.2.0-pre.1" }] },
    { path: "example.com/hello/v2", versions: [{ version: "v2.0.0" }, { version: "v2.1.0" }] },
    { path: "example.com/Upper/Mod", versions: [{ version: "v1.0.0" }, { version: "v1.0.1-RC1" }] },
    { path: "example.com/pseudo", versions: [{ version: "v0.0.0-20240102030405-abcdefabcdef" }], unlisted: ["v0.0.0-20240102030405-abcdefabcdef"], queries: { main: "v0.0.0-20240102030405-abcdefabcdef" } },
    { path: "example.com/broken", versions: [{ version: "v1.0.0" }, { version: "v1.0.1" }] },
    { path: "example.com/many", versions: [{ version: "v1.0.0" }, { version: "v1.0.1" }] },
  ];
}

const b64 = (n: number, fill: number) => Buffer.alloc(n, fill).toString("base64");

/** A signed tree note as sum.golang.org sends it (the signature is not a real one: only its form is right). */
export function treeNote(db: string, size = 1000): string {
  return `go.sum database tree\n${size}\n${b64(32, 7)}\n\n\u2014 ${db} ${b64(68, 9)}\n`;
}

/** A lookup answer for module@version (unescaped) in the form sum.golang.org sends. */
export function lookupAnswer(db: string, module: string, version: string, id = 42): string {
  return `${id}\n${module} ${version} h1:${b64(32, 1)}\n${module} ${version}/go.mod h1:${b64(32, 2)}\n\n${treeNote(db)}`;
}
