/**
 * What differs by operating system, in one place (each difference is
 * documented in README "Platforms"):
 * - POSIX mode bits say who may read or write a file on Linux and macOS; on
 *   Windows stat reports 0666/0777 for everything and ACLs decide, so the
 *   checks that refuse a directory or file open to others apply only where
 *   mode bits mean access.
 * - Windows refuses to rename over a file another process holds open
 *   (EPERM, EACCES or EBUSY), where POSIX replaces it atomically.
 */
export const MODE_BITS_MEAN_ACCESS = process.platform !== "win32";

const RENAME_BUSY = new Set(["EPERM", "EACCES", "EBUSY"]);

/** True for the error Windows gives when the target of a rename is open elsewhere. */
export function isRenameBusy(err: unknown, platform: NodeJS.Platform = process.platform): boolean {
  return platform === "win32" && RENAME_BUSY.has((err as NodeJS.ErrnoException)?.code ?? "");
}
