/**
 * The Unix socket path of `serve --socket PATH`: what may be there before we
 * listen, and when we may remove it.
 *
 * - nothing: listen;
 * - a socket nobody answers on (a server that died): removed, then listen;
 * - a socket a live server answers on, or anything that is not a socket:
 *   refused, with one line saying which (we never delete a user's file or
 *   take over another server's socket);
 * - on shutdown the path is removed only if it is still the socket we
 *   created (same device and inode): a later server may own it by then.
 */
import { lstatSync, unlinkSync } from "node:fs";

export interface SocketIdentity { dev: number; ino: number }

/** Makes `path` free for a new listener, or throws a one-line reason. */
export async function clearStaleSocket(path: string): Promise<void> {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isSocket()) throw new Error(`[serve] ${path} exists and is not a socket; refusing to replace it (choose another --socket path or remove it)`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new Error(`[serve] ${path} is another user's socket (uid ${st.uid}); refusing to replace it`);
  if (await answers(path)) throw new Error(`[serve] another server is listening on ${path}; stop it first or choose another --socket path`);
  try {
    unlinkSync(path);
  } catch (err) {
    throw new Error(`[serve] remove stale socket ${path}`, { cause: err });
  }
}

/** The identity of the socket now at `path`, if it is a socket. */
export function socketIdentity(path: string): SocketIdentity | undefined {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st?.isSocket() ? { dev: st.dev, ino: st.ino } : undefined;
}

/** Removes `path` if it is still the socket `ours`. */
export function removeIfOurs(path: string, ours: SocketIdentity | undefined): void {
  const now = socketIdentity(path);
  if (!ours || !now || now.dev !== ours.dev || now.ino !== ours.ino) return;
  try { unlinkSync(path); } catch { /* gone already */ }
}

/** Whether a server may be listening: only a refused connection proves the socket dead (a denied one does not). */
async function answers(path: string): Promise<boolean> {
  try {
    const s = await Bun.connect({ unix: path, socket: { data() {}, error() {} } });
    s.end();
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ECONNREFUSED";
  }
}
