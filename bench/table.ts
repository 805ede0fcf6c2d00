/** Small helpers shared by the benchmarks: order statistics and plain-text tables. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function minimum(values: readonly number[]): number {
  return values.reduce((least, value) => Math.min(least, value), Number.POSITIVE_INFINITY);
}

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  notes?: string[];
}

/** A Markdown table, columns padded so it also reads well in a terminal. */
export function formatTable(table: Table): string {
  const widths = table.headers.map((header, column) => Math.max(header.length, ...table.rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const out = [`### ${table.title}`, '', line(table.headers), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...table.rows.map(line)];
  for (const note of table.notes ?? []) out.push('', note);
  return `${out.join('\n')}\n`;
}

export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(value < 10 ? 2 : 1) : 'n/a';
}

export function mib(kib: number | undefined): string {
  return kib === undefined || !Number.isFinite(kib) ? 'n/a' : (kib / 1024).toFixed(1);
}
