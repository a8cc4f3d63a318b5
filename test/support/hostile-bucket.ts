/**
 * A small S3-shaped HTTP server whose objects are hostile: huge, endless,
 * compressed bombs. Any GET it has no generator for is a NoSuchKey 404;
 * every PUT succeeds (and is thrown away). Signatures are not checked.
 */
export type Body = () => Response;

export interface HostileBucket {
  endpoint: string;
  /** Keys (without the bucket) asked for, in order. */
  asked: string[];
  stop(): void;
}

export function startHostileBucket(bucket: string, objects: (key: string) => Body | undefined): HostileBucket {
  const asked: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = decodeURIComponent(new URL(req.url).pathname);
      const key = path.startsWith(`/${bucket}/`) ? path.slice(bucket.length + 2) : path.slice(1);
      if (req.method === "PUT") {
        await req.arrayBuffer();
        return new Response(null, { status: 200 });
      }
      asked.push(key);
      const gen = objects(key);
      if (gen) return gen();
      return new Response(`<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>`, { status: 404 });
    },
  });
  return { endpoint: `http://127.0.0.1:${server.port}`, asked, stop: () => server.stop(true) };
}

/** An endless chunked body of `byte` (no Content-Length): a bound must stop the reader. */
export function endless(byte: number): Body {
  return () => {
    const chunk = new Uint8Array(64 << 10).fill(byte);
    let sent = 0;
    return new Response(new ReadableStream({
      pull(c) {
        sent += chunk.length;
        if (sent > 1 << 30) c.close(); // 1 GB at most, should anyone read it all
        else c.enqueue(chunk);
      },
    }));
  };
}

/** A body announcing a huge Content-Length. */
export function announcedHuge(): Body {
  return () => new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(64 << 10)); } }), { headers: { "Content-Length": String(1 << 30) } });
}

/** Fixed bytes. */
export function bytes(b: Uint8Array): Body {
  return () => new Response(b);
}
