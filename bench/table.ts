/** Markdown tables: per-section tables and the final summary rows. */

export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [fmt(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(fmt)].join("\n");
}

/** One line of the final table. `met` is undefined when the measure has no target. */
export interface SummaryRow {
  measure: string;
  value: string;
  reference: string;
  ratio: string;
  target: string;
  met?: boolean;
}

export function summaryTable(rows: SummaryRow[]): string {
  return markdownTable(
    ["measure", "value", "reference", "ratio", "target", "met?"],
    rows.map((r) => [r.measure, r.value, r.reference, r.ratio, r.target || "-", r.met === undefined ? "-" : r.met ? "yes" : "**no**"]),
  );
}

/** What a section hands back: its own table (already printed) and its summary rows. */
export interface SectionResult {
  title: string;
  table: string;
  rows: SummaryRow[];
  /** Extra lines worth keeping with the results (diagnostics, skip reasons). */
  notes: string[];
  /** Set when other load was seen during the measurements themselves. */
  disturbed?: string;
}
