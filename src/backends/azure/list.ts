/**
 * One page of a List Blobs answer (`EnumerationResults` XML), read with a
 * small bounded parser: only `<Blob>` elements' Name, Content-Length and
 * Last-Modified, and NextMarker. Everything is checked: names unescaped and
 * under the prefix, in strictly increasing order (across pages too, so a
 * looping marker cannot list forever), sizes and dates real numbers.
 */
import type { BlobInfo } from "../../blob/port.ts";

export interface ListPage {
  items: BlobInfo[];
  /** The marker for the next page; undefined on the last. */
  next: string | undefined;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML text with its five named entities and numeric references replaced; throws on any other `&`. */
export function unescapeXml(text: string): string {
  return text.replace(/&([^;&]{0,12});?/g, (all, ref: string) => {
    if (!all.endsWith(";")) throw new Error(`a bare & in ${JSON.stringify(text.slice(0, 200))}`);
    const num = /^#(x[0-9a-fA-F]{1,6}|[0-9]{1,7})$/.exec(ref);
    if (num) {
      const code = num[1]![0] === "x" ? parseInt(num[1]!.slice(1), 16) : parseInt(num[1]!, 10);
      if (code > 0x10ffff) throw new Error(`bad character reference ${all}`);
      return String.fromCodePoint(code);
    }
    const named = ENTITIES[ref];
    if (named === undefined) throw new Error(`unknown entity ${all}`);
    return named;
  });
}

function field(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml);
  return m ? m[2] : undefined;
}

/**
 * Parses one page. `after` is the last key of the previous page ("" for the
 * first): every key must sort after it. Throws an Error saying what is wrong.
 */
export function parseListPage(xml: string, prefix: string, after: string): ListPage {
  if (!/<EnumerationResults[\s>]/.test(xml)) throw new Error("not a List Blobs answer (no EnumerationResults)");
  const items: BlobInfo[] = [];
  let last = after;
  for (const m of xml.matchAll(/<Blob>([\s\S]*?)<\/Blob>/g)) {
    const body = m[1]!;
    const nameTag = /<Name(\s+Encoded="true")?\s*>([^<]*)<\/Name>/.exec(body);
    if (!nameTag) throw new Error("a Blob without a Name");
    let key = unescapeXml(nameTag[2]!);
    // Names with characters XML cannot carry come percent-encoded.
    if (nameTag[1]) key = decodeURIComponent(key);
    if (!key.startsWith(prefix)) throw new Error(`${JSON.stringify(key.slice(0, 200))} is not under the prefix ${JSON.stringify(prefix)}`);
    if (!(key > last)) throw new Error(`${JSON.stringify(key.slice(0, 200))} is out of order (after ${JSON.stringify(last.slice(0, 200))})`);
    const sizeText = field(body, "Content-Length");
    const size = sizeText !== undefined && /^\d{1,16}$/.test(sizeText) ? Number(sizeText) : NaN;
    if (!Number.isSafeInteger(size)) throw new Error(`${key}: no valid Content-Length`);
    const modifiedMs = Date.parse(field(body, "Last-Modified") ?? "");
    if (!Number.isFinite(modifiedMs)) throw new Error(`${key}: no valid Last-Modified`);
    items.push({ key, size, modifiedMs });
    last = key;
  }
  // Outside the Blob elements (a name cannot hold a raw "<", so none can fake it).
  const marker = field(xml.replace(/<Blob>[\s\S]*?<\/Blob>/g, ""), "NextMarker");
  if (marker !== undefined && marker.length > 4096) throw new Error("NextMarker is too long");
  return { items, next: marker ? unescapeXml(marker) : undefined };
}
