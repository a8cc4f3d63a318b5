/**
 * Runs a shell script in a private mount namespace (`unshare -m`), where it
 * may mount small tmpfs file systems to make a disk full. Linux and root
 * only: with CI=true a machine that cannot do it fails the test with a
 * message, it never skips it.
 */
export interface ScriptResult { code: number; stdout: string; stderr: string }

let checked: string | undefined;

/** Throws a clear error when mount namespaces are not available here. */
export async function requireMountNamespace(): Promise<void> {
  if (checked === "ok") return;
  const p = Bun.spawn(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=8k tmpfs /mnt && umount /mnt"], { stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited.catch(() => 127)]);
  checked = code === 0 ? "ok" : err;
  if (code !== 0) throw new Error(`fault tests need 'unshare -m' and tmpfs mounts (Linux, root): ${err.trim() || `exit ${code}`}`);
}

export async function inMountNamespace(script: string, env: Record<string, string> = {}): Promise<ScriptResult> {
  await requireMountNamespace();
  const p = Bun.spawn(["unshare", "-m", "sh", "-ec", script], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
