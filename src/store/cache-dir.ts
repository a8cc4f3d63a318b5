/**
 * The cache directory is a trust boundary: whoever can write into it chooses
 * what the go command links. So, like ssh with its keys, we refuse one that
 * another user owns or that group or others may write (for example one
 * pre-created in /tmp by someone else), unless the operator says it is meant
 * to be shared (--cache-dir-shared). A new one is created 0700. Its `v1`
 * store must be a real directory, not a link to somewhere else.
 */
import { lstatSync, mkdirSync, statSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { MODE_BITS_MEAN_ACCESS } from "../platform.ts";

/**
 * `modeBits`: whether POSIX mode bits mean access here. Not on Windows,
 * where ACLs decide and are not read here (platform.ts): there, without
 * --cache-dir-shared, only a directory under `ownedRoot` (default
 * %LocalAppData%, the user's own) is accepted.
 */
export function prepareCacheDir(dir: string, opts: { shared?: boolean; modeBits?: boolean; ownedRoot?: string } = {}): void {
  const modeBits = opts.modeBits ?? MODE_BITS_MEAN_ACCESS;
  if (!modeBits && !opts.shared) {
    const root = opts.ownedRoot ?? process.env.LocalAppData ?? process.env.LOCALAPPDATA;
    const inside = root !== undefined && resolve(dir).toLowerCase().startsWith(`${resolve(root).toLowerCase()}${sep}`);
    if (!inside) throw new Error(`[cache] refusing cache directory ${dir}: on Windows who may write a directory is in its ACL, which this plugin does not read; it accepts one under %LocalAppData% (yours alone by default), or any with --cache-dir-shared if you have checked its ACL`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new Error(`[cache] cannot create cache directory ${dir}`, { cause: err });
  }
  const st = statSync(dir); // the directory itself may be a link the user made; what it names is checked
  if (!st.isDirectory()) throw new Error(`[cache] ${dir} is not a directory`);
  const uid = process.getuid?.();
  if (!opts.shared) {
    if (uid !== undefined && st.uid !== uid) {
      throw new Error(`[cache] refusing cache directory ${dir}: it belongs to uid ${st.uid}, not to this user (uid ${uid}); use a directory of your own, or --cache-dir-shared if it is meant to be shared`);
    }
    if (modeBits && st.mode & 0o022) {
      throw new Error(`[cache] refusing cache directory ${dir}: group or others may write to it (mode ${(st.mode & 0o777).toString(8)}); run 'chmod go-w ${dir}', or pass --cache-dir-shared if it is meant to be shared`);
    }
  }
  const store = lstatSync(join(dir, "v1"), { throwIfNoEntry: false });
  if (store && !store.isDirectory()) throw new Error(`[cache] ${join(dir, "v1")} is not a directory (a link or a file); remove it`);
}
