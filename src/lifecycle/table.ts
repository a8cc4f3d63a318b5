/** Plain text tables for the maintenance commands: a header, aligned columns, numbers on the right. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const width = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number" || /^[\d.,]+( \w+)?$|^-$/.test(String(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] && i > 0 ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join("  ").trimEnd();
  return [line(cells[0]!), line(width.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n") + "\n";
}
