/**
 * Reads the module path of a downloaded go.mod the way the go command reads
 * a dependency's go.mod (golang.org/x/mod/modfile ParseLax): the same
 * tokens (`//` comments only, `"..."` and `` `...` `` strings without
 * newlines, identifiers of printable runes, the punctuation `()[]{},`), the
 * same lines and `verb ( ... )` blocks, and the checks that fail there for
 * `module` (exactly one, one argument, plain or a Go-quoted `"string"`) and
 * `go` (at most one, one valid version). Other directives are not checked
 * (unknown ones are ignored there too).
 */

type Tok = { kind: "eof" | "nl" | "comment" | "eolcomment" | "punct" | "string" | "ident"; text: string };

class Syntax extends Error {}

const IDENT = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;
const isIdent = (c: string) => !"()[]{},".includes(c) && IDENT.test(c);

function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const at = () => `line ${src.slice(0, i).split("\n").length}`;
  while (true) {
    while (i < src.length && " \t\r".includes(src[i]!)) i++;
    if (src.startsWith("/*", i)) throw new Syntax(`${at()}: mod files must use // comments`);
    if (src.startsWith("//", i)) {
      const suffix = src.slice(src.lastIndexOf("\n", i - 1) + 1, i).trim() !== "";
      const end = src.indexOf("\n", i);
      toks.push({ kind: suffix ? "eolcomment" : "comment", text: "" });
      i = end < 0 ? src.length : end + 1;
      continue;
    }
    if (i >= src.length) return [...toks, { kind: "eof", text: "" }];
    const c = String.fromCodePoint(src.codePointAt(i)!);
    if (c === "\n") { toks.push({ kind: "nl", text: c }); i++; continue; }
    if ("()[]{},".includes(c)) { toks.push({ kind: "punct", text: c }); i++; continue; }
    if (c === '"' || c === "`") {
      let j = i + 1;
      for (; ; j++) {
        if (j >= src.length) throw new Syntax(`${at()}: unexpected EOF in string`);
        if (src[j] === "\n") throw new Syntax(`${at()}: unexpected newline in string`);
        if (src[j] === c) break;
        if (src[j] === "\\" && c === '"') j++;
      }
      toks.push({ kind: "string", text: src.slice(i, j + 1) });
      i = j + 1;
      continue;
    }
    if (!isIdent(c)) throw new Syntax(`${at()}: unexpected input character ${JSON.stringify(c)}`);
    const start = i;
    while (i < src.length && !src.startsWith("//", i)) {
      if (src.startsWith("/*", i)) throw new Syntax(`${at()}: mod files must use // comments`);
      const d = String.fromCodePoint(src.codePointAt(i)!);
      if (!isIdent(d)) break;
      i += d.length;
    }
    toks.push({ kind: "ident", text: src.slice(start, i) });
  }
}

const isEOL = (t: Tok) => t.kind === "eof" || t.kind === "eolcomment" || t.kind === "nl";

/** The statements of a go.mod: each line as its tokens, with the block verb (if any) in front. */
function statements(toks: Tok[]): { verb: string; args: string[]; block: boolean }[] {
  const out: { verb: string; args: string[]; block: boolean }[] = [];
  let p = 0;
  const peek = (k = 0) => toks[Math.min(p + k, toks.length - 1)]!;
  const take = () => { const t = peek(); if (t.kind !== "eof") p++; return t; }; // like modfile: EOF again and again
  const isPunct = (t: Tok, c: string) => t.kind === "punct" && t.text === c;
  while (peek().kind !== "eof") {
    if (peek().kind === "nl" || peek().kind === "comment") { take(); continue; }
    const head = [take().text];
    for (;;) {
      const u = take();
      if (isEOL(u)) { out.push({ verb: head[0]!, args: head.slice(1), block: false }); break; }
      if (isPunct(u, "(") && isEOL(peek())) {
        for (;;) {
          const v = peek();
          if (v.kind === "eof") throw new Syntax("syntax error (unterminated block)");
          if (v.kind === "nl" || v.kind === "comment" || v.kind === "eolcomment") { take(); continue; }
          if (isPunct(v, ")")) {
            take();
            if (!isEOL(take())) throw new Syntax("syntax error (expected newline after closing paren)");
            break;
          }
          const words = [take().text];
          while (!isEOL(peek())) words.push(take().text);
          take();
          if (head.length === 1) out.push({ verb: head[0]!, args: words, block: true }); // `verb x (` blocks are ignored
        }
        break;
      }
      if (isPunct(u, "(") && isPunct(peek(), ")") && isEOL(peek(1))) { take(); take(); break; } // an empty block
      head.push(u.text);
    }
  }
  return out;
}

const GO_VERSION = /^([1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?([a-z]+[0-9]+)?$/;
const LAX_GO_VERSION = /^v?(([1-9][0-9]*)\.(0|[1-9][0-9]*))([^0-9].*)$/;

/** The module path declared by `src`, or why the go command would refuse the file. */
export function goModModulePath(src: string): { path: string } | { error: string } {
  try {
    let path: string | undefined, go = false;
    for (const s of statements(lex(src))) {
      if (s.verb === "module") {
        if (path !== undefined) return { error: "repeated module statement" };
        if (s.args.length !== 1) return { error: "usage: module module/path" };
        path = parseString(s.args[0]!);
      } else if (s.verb === "go" && !s.block) {
        if (go) return { error: "repeated go statement" };
        go = true;
        if (s.args.length !== 1) return { error: "go directive expects exactly one argument" };
        if (!GO_VERSION.test(s.args[0]!) && !LAX_GO_VERSION.test(s.args[0]!)) return { error: `invalid go version ${JSON.stringify(s.args[0])}` };
      }
    }
    return path === undefined ? { error: "missing module declaration" } : { path };
  } catch (err) {
    if (err instanceof Syntax) return { error: err.message };
    throw err;
  }
}

const ESC: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", '"': '"' };

/** modfile's parseString: a Go double-quoted string (strconv.Unquote), or a bare word without quotes. */
function parseString(t: string): string {
  if (!t.startsWith('"')) {
    if (/["'`]/.test(t)) throw new Syntax("unquoted string cannot contain quote");
    return t;
  }
  const body = t.slice(1, -1);
  return body.replace(/\\(?:([abfnrtv\\"])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3})|([^]))/g, (_, c, x, u, U, o, bad) => {
    if (bad !== undefined) throw new Syntax("invalid quoted string");
    if (c) return ESC[c]!;
    const n = parseInt(x ?? u ?? U ?? o, o ? 8 : 16);
    if ((o && n > 255) || n > 0x10ffff || (n >= 0xd800 && n < 0xe000)) throw new Syntax("invalid quoted string");
    return (x || o) && n > 0x7f ? "\ufffd" : String.fromCodePoint(n); // a byte escape above ASCII cannot be part of a module path
  });
}
