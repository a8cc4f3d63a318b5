/**
 * Request streams in the go command's framing: a JSON line plus a blank line
 * per request; a put with a body is followed by `"<base64>"` on one line.
 */
import { createHash, randomBytes } from "node:crypto";

export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();
export const randomId = () => b64(randomBytes(32));

export const requestLine = (req: object) => `${JSON.stringify(req)}\n\n`;

export function putHeader(id: number, actionId: string, body: Uint8Array): string {
  return requestLine({ ID: id, Command: "put", ActionID: actionId, OutputID: b64(sha256(body)), BodySize: body.length });
}

export interface StreamInfo {
  path: string;
  puts: number;
  bodyBytes: number;
  streamBytes: number;
  actionIds: string[];
}

/**
 * Writes `count` puts of distinct random `size`-byte bodies (IDs 1..count)
 * and, unless `close` is false, a close request, to a file.
 */
export async function writePutStream(path: string, count: number, size: number, close = true): Promise<StreamInfo> {
  const sink = Bun.file(path).writer({ highWaterMark: 8 << 20 });
  const actionIds: string[] = [];
  let streamBytes = 0;
  const write = (s: string) => {
    streamBytes += s.length; // ASCII only
    sink.write(s);
  };
  for (let i = 1; i <= count; i++) {
    const body = randomBytes(size);
    const action = randomId();
    actionIds.push(action);
    write(putHeader(i, action, body));
    write(`"${b64(body)}"\n`);
    if (size >= 1 << 20) await sink.flush();
  }
  if (close) write(requestLine({ ID: count + 1, Command: "close" }));
  await sink.end();
  return { path, puts: count, bodyBytes: count * size, streamBytes, actionIds };
}
