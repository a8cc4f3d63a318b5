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

/**
 * The first `<tag ...>text</tag>` in `xml`: its attributes and its text (no
 * markup inside). Found with indexOf, never a backtracking pattern: a
 * hostile page must cost linear time.
 */
function element(xml: string, tag: string, from = 0): { attrs: string; text: string; end: number } | undefined {
  for (let at = xml.indexOf(`<${tag}`, from); at >= 0; at = xml.indexOf(`<${tag}`, at + 1)) {
    const after = xml.charCodeAt(at + tag.length + 1);
    if (after !== 62 /* > */ && after !== 32 && after !== 9 && after !== 10 && after !== 13) continue;
    const open = xml.indexOf(">", at);
    if (open < 0) return undefined;
    const close = xml.indexOf(`</${tag}>`, open);
    if (close < 0) return undefined;
    const text = xml.slice(open + 1, close);
    if (text.includes("<")) continue;
    return { attrs: xml.slice(at + tag.length + 1, open), text, end: close + tag.length + 3 };
  }
  return undefined;
}

const field = (xml: string, tag: string) => element(xml, tag)?.text;

/** The bodies of every `<Blob>...</Blob>`, in order, and the text outside them. */
function blobs(xml: string): { bodies: string[]; outside: string } {
  const bodies: string[] = [];
  let outside = "";
  let at = 0;
  for (;;) {
    const open = xml.indexOf("<Blob>", at);
    if (open < 0) break;
    const close = xml.indexOf("</Blob>", open);
    if (close < 0) throw new Error("a Blob element is not closed");
    outside += xml.slice(at, open);
    bodies.push(xml.slice(open + 6, close));
    at = close + 7;
  }
  return { bodies, outside: outside + xml.slice(at) };
}

/**
 * Parses one page. `after` is the last key of the previous page ("" for the
 * first): every key must sort after it. Throws an Error saying what is wrong.
 */
export function parseListPage(xml: string, prefix: string, after: string): ListPage {
  if (!/<EnumerationResults[\s>]/.test(xml)) throw new Error("not a List Blobs answer (no EnumerationResults)");
  const items: BlobInfo[] = [];
  let last = after;
  const { bodies, outside } = blobs(xml);
  for (const body of bodies) {
    const nameTag = element(body, "Name");
    if (!nameTag || !/^(\s+Encoded="(true|false)")?\s*$/.test(nameTag.attrs)) throw new Error("a Blob without a Name");
    let key = unescapeXml(nameTag.text);
    // Names with characters XML cannot carry come percent-encoded.
    if (nameTag.attrs.includes('"true"')) key = decodeURIComponent(key);
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
  const marker = field(outside, "NextMarker");
  if (marker !== undefined && marker.length > 4096) throw new Error("NextMarker is too long");
  return { items, next: marker ? unescapeXml(marker) : undefined };
}
