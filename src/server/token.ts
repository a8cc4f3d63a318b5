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
import { chmodSync, closeSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
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

/** Creates a fresh secret at `path` (atomically, replacing a stale one); returns it. */
export function createToken(path: string, opts: { groupReadable?: boolean } = {}): string {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkNotShared(dir, "token directory", opts.groupReadable ? 0o002 : 0o077);
  const secret = new Uint8Array(32);
  crypto.getRandomValues(secret);
  const text = `${secret.toHex()}\n`;
  const tmp = `${path}.${secret.subarray(0, 6).toHex()}.tmp`;
  const mode = opts.groupReadable ? 0o640 : 0o600;
  const fd = openSync(tmp, "wx", mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode); // the umask must not widen or narrow it
  renameSync(tmp, path);
  return text.trim();
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
    if (st.mode & 0o007) throw new Error(`[auth] token ${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)}); chmod o-rwx it`);
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
  if (st.mode & forbidden) throw new Error(`[auth] ${what} ${path} is open to others (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`);
}
