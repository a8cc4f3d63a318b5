/** Namespaces: own prefix first, then the read prefixes; all asked at once; failures do not hide answers. */
import { describe, expect, test } from "bun:test";
import { Namespaces } from "../../../src/remote/worker/namespaces.ts";
import type { CacheBucket } from "../../../src/remote/format/bucket.ts";

type Answer = "hit" | "miss" | "fail";
/** A stand-in namespace whose record and pointer reads answer `answer`; logs each ask. */
const ns = (prefix: string, answer: Answer, asked: string[]) => {
  const reply = <T>(value: T) => {
    asked.push(prefix);
    if (answer === "fail") return Promise.reject(new Error(`[remote] read ax in ${prefix}`));
    return Promise.resolve(answer === "hit" ? value : undefined);
  };
  return {
    prefix,
    getRecord: () => reply({ outputId: prefix, timeNanos: 1n, size: 1, encoding: "raw" }),
    getManifestPointer: () => reply(`${prefix}/manifest/x`),
  } as unknown as CacheBucket;
};

describe("Namespaces", () => {
  test.each<[string, Answer[], string | undefined]>([
    ["own prefix first when both have it", ["hit", "hit"], "pr"],
    ["the read prefix when own misses", ["miss", "hit"], "main"],
    ["the second read prefix when the first misses too", ["miss", "miss", "hit"], "old"],
    ["a read prefix's hit despite own failing", ["fail", "hit"], "main"],
    ["a miss when every namespace misses", ["miss", "miss"], undefined],
  ])("%s", async (_n, answers, winner) => {
    const asked: string[] = [];
    const names = ["pr", "main", "old"];
    const [own, ...rest] = answers.map((a, i) => ns(names[i]!, a, asked));
    const n = new Namespaces(own!, rest);
    expect((await n.findRecord("a"))?.bucket.prefix).toBe(winner as string);
    expect((await n.findManifest("a"))?.key).toBe(winner && `${winner}/manifest/x`);
    expect(asked.length).toBe(answers.length * 2); // every namespace asked, at once
  });

  test("when none answers and one failed, the failure is thrown", async () => {
    const n = new Namespaces(ns("pr", "miss", []), [ns("main", "fail", [])]);
    expect(n.findRecord("a")).rejects.toThrow("[remote] read ax in main");
  });

  test("one namespace: its failure is thrown as is", async () => {
    const n = new Namespaces(ns("pr", "fail", []));
    expect(n.findManifest("a")).rejects.toThrow("[remote] read ax in pr");
  });
});
