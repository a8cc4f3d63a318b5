/**
 * The secret shared by `serve --plugin PORT` and `connect PORT`.
 *
 * Where it lives, found from the port alone (the first that applies):
 *   $XDG_RUNTIME_DIR/go-cache-plugin/<port>.token           (a per-user tmpfs on most desktops)
 *   <home from the password database>/.cache/go-cache-plugin/run/<port>.token
 * or wherever --token-file says (both sides). The home directory is taken
 * from the password database, not $HOME, so that a go command run with
 * another HOME still finds its user's server.
 *
 * File: 64 hex digits and a newline; created 0600 in a 0700 directory (0640
 * with --token-file, for a server shared with a group). A token file or
 * directory that others can read or write is refused: its secret would not
 * be one.
 */
import { MODE_BITS_MEAN_ACCESS } from "../platform.ts";
import { closeSync, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

const TOKEN = /^([0-9a-f]{64})\s*$/;

/** Candidate token paths for a port, in the order connect tries them; the server writes the first. */
export function defaultTokenPaths(port: number, env: Record<string, string | undefined> = process.env): string[] {
  const paths: string[] = [];
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && runtime.startsWith("/")) paths.push(join(runtime, "go-cache-plugin", `${port}.token`));
  const home = passwdHome() ?? env.HOME;
  if (home) paths.push(join(home, ".cache", "go-cache-plugin", "run", `${port}.token`));
  return paths;
}

/** A fresh secret: 32 random bytes in hex. */
export function newSecret(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toHex();
}

/** Creates a fresh secret at `path` (atomically, replacing a stale one); returns it. */
export function createToken(path: string, opts: { groupReadable?: boolean } = {}): string {
  const secret = newSecret();
  writeToken(path, secret, opts);
  return secret;
}

/** Writes `secret` to `path` atomically, with its mode set on the open file (never by path). */
export function writeToken(path: string, secret: string, opts: { groupReadable?: boolean } = {}): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkNotShared(dir, "token directory", opts.groupReadable ? 0o022 : 0o077);
  const tmp = `${path}.${crypto.getRandomValues(new Uint8Array(6)).toHex()}.tmp`;
  const mode = opts.groupReadable ? 0o640 : 0o600;
  const fd = openSync(tmp, "wx", mode);
  try {
    fchmodSync(fd, mode); // the umask must not widen or narrow it
    writeSync(fd, `${secret}\n`);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Where `serve --plugin PORT` publishes its secret, once it listens: the
 * --token-file (left in place at exit: it is the operator's), else the
 * first default location that works (earlier ones that failed are cleared,
 * so connect cannot find a stale secret first). Returns the path.
 */
export function publishToken(port: number, secret: string, tokenFile: string | undefined): string {
  if (tokenFile) {
    if (!lstatSync(tokenFile, { throwIfNoEntry: false })) writeToken(tokenFile, secret, { groupReadable: true });
    return tokenFile;
  }
  const problems: string[] = [];
  for (const path of defaultTokenPaths(port)) {
    try {
      writeToken(path, secret);
      return path;
    } catch (err) {
      problems.push(`${path}: ${(err as Error).message}`);
      try { unlinkSync(path); } catch { /* nothing there */ }
    }
  }
  throw new Error(`[serve] cannot write a token for port ${port}: ${problems.join("; ")} (pass --token-file)`);
}

/** The secret in an existing token file; throws with the path when it is missing, malformed or readable by others. */
export function readToken(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new Error(`[auth] read token ${path}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`[auth] token ${path} is not a regular file`);
    if (MODE_BITS_MEAN_ACCESS && st.mode & 0o007) throw new Error(`[auth] token ${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)}); chmod o-rwx it`);
    const uid = process.getuid?.();
    // A token another (non-root) user planted would let them pose as the server.
    if (uid !== undefined && st.uid !== uid && st.uid !== 0) throw new Error(`[auth] token ${path} belongs to uid ${st.uid}, neither this user (${uid}) nor root`);
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const m = n < buf.length ? TOKEN.exec(buf.toString("latin1", 0, n)) : null; // a token file is 65 bytes
    if (!m) throw new Error(`[auth] token ${path} is malformed (expected 64 hex digits)`);
    return m[1]!;
  } finally {
    closeSync(fd);
  }
}

/** Removes the token file if it still holds `secret` (a newer server on the port may have replaced it). */
export function removeToken(path: string, secret: string): void {
  try {
    if (readToken(path) === secret) unlinkSync(path);
  } catch { /* gone or replaced: not ours */ }
}

/** This user's home directory from /etc/passwd (os.userInfo() in Bun reports $HOME). */
function passwdHome(): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length >= 7 && Number(f[2]) === uid && f[5]!.startsWith("/")) return f[5];
    }
  } catch { /* no such file (macOS keeps users elsewhere) */ }
  return undefined;
}

function checkNotShared(path: string, what: string, forbidden: number): void {
  const st = lstatSync(path);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new Error(`[auth] ${what} ${path} is not a directory`);
  if (uid !== undefined && st.uid !== uid) throw new Error(`[auth] ${what} ${path} belongs to uid ${st.uid}, not to this user (${uid})`);
  if (MODE_BITS_MEAN_ACCESS && st.mode & forbidden) throw new Error(`[auth] ${what} ${path} is open to others (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`);
}
