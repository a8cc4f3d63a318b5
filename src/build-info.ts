/**
 * What build.ts injects with --define: the commit (short hash, "-dirty" for a
 * tree with changes, "unknown" outside a checkout) and the target
 * (linux-x64, darwin-arm64, linux-arm64-musl, windows-x64, ...). Run from
 * source, nothing is injected: commit "unknown", the host's target.
 */
declare const BUILD_INFO: { commit: string; target: string } | undefined;

export const buildInfo: { commit: string; target: string } =
  typeof BUILD_INFO === "object" && BUILD_INFO !== null
    ? BUILD_INFO
    : { commit: "unknown", target: `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}` };
