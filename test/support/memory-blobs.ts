/**
 * An in-memory BlobStore for unit tests of the policy above the port (gc):
 * a settable clock for modification times and hooks to play a build that
 * races the code under test. Never a stand-in for a backend: those are
 * tested against their real servers (test/blob/contract.ts).
 */
import type { BlobInfo, BlobStore } from "../../src/blob/port.ts";

export class MemoryBlobs implements BlobStore {
  readonly name = "mem://test";
  readonly objects = new Map<string, { body: Uint8Array; modifiedMs: number }>();
  now = () => Date.now();
  hooks: { beforeRead?: (key: string) => void | Promise<void>; beforeDelete?: (key: string) => void | Promise<void>; beforeList?: (prefix: string) => void | Promise<void> } = {};

  put(key: string, body: Uint8Array | string, modifiedMs = this.now()): void {
    this.objects.set(key, { body: typeof body === "string" ? new TextEncoder().encode(body) : body, modifiedMs });
  }

  async read(key: string, maxBytes: number): Promise<Uint8Array | undefined> {
    await this.hooks.beforeRead?.(key);
    const o = this.objects.get(key);
    if (o && o.body.length > maxBytes) throw new Error(`${key}: over ${maxBytes} bytes`);
    return o?.body;
  }

  async readToFile(): Promise<number | undefined> {
    throw new Error("not used by these tests");
  }

  async write(key: string, body: Uint8Array | Blob, opts?: { ifAbsent?: boolean }): Promise<"written" | "exists"> {
    if (opts?.ifAbsent && this.objects.has(key)) return "exists";
    this.put(key, body instanceof Blob ? new Uint8Array(await body.arrayBuffer()) : body);
    return "written";
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const o = this.objects.get(key);
    return o && { key, size: o.body.length, modifiedMs: o.modifiedMs };
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    await this.hooks.beforeList?.(prefix);
    for (const key of [...this.objects.keys()].sort()) {
      const o = this.objects.get(key)!;
      if (key.startsWith(prefix)) yield { key, size: o.body.length, modifiedMs: o.modifiedMs };
    }
  }

  async delete(key: string): Promise<void> {
    await this.hooks.beforeDelete?.(key);
    this.objects.delete(key);
  }

  close(): void {}
}
