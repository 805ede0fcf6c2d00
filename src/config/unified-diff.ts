/**
 * A unified diff (diff -u format) of two texts, for plan output. Files here are
 * small (sshd_config is a few hundred lines), so a plain LCS table is enough.
 */

type Op = { kind: ' ' | '-' | '+'; text: string; oldLine: number; newLine: number };

function lines(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function editScript(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const width = m + 1;
  const table = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i * width + j] =
        a[i] === b[j] ? (table[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(table[(i + 1) * width + j] ?? 0, table[i * width + j + 1] ?? 0);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: ' ', text: a[i] ?? '', oldLine: i, newLine: j });
      i++;
      j++;
    } else if (i < n && (j >= m || (table[(i + 1) * width + j] ?? 0) >= (table[i * width + j + 1] ?? 0))) {
      // Removals before additions, as diff -u prints them.
      ops.push({ kind: '-', text: a[i] ?? '', oldLine: i, newLine: j });
      i++;
    } else {
      ops.push({ kind: '+', text: b[j] ?? '', oldLine: i, newLine: j });
      j++;
    }
  }
  return ops;
}

/** `undefined` stands for a file that does not exist (shown as /dev/null). */
export function unifiedDiff(oldText: string | undefined, newText: string | undefined, oldName: string, newName: string, context = 3): string {
  const a = lines(oldText ?? '');
  const b = lines(newText ?? '');
  const ops = editScript(a, b);
  if (ops.every((op) => op.kind === ' ') && (oldText ?? '').endsWith('\n') === (newText ?? '').endsWith('\n') && (oldText === undefined) === (newText === undefined)) {
    return '';
  }
  const out = [`--- ${oldText === undefined ? '/dev/null' : oldName}`, `+++ ${newText === undefined ? '/dev/null' : newName}`];
  const changed = ops.map((op, index) => (op.kind === ' ' ? -1 : index)).filter((index) => index !== -1);
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (end + 1 < changed.length && (changed[end + 1] ?? 0) - (changed[end] ?? 0) <= context * 2 + 1) end++;
    const from = Math.max(0, (changed[start] ?? 0) - context);
    const to = Math.min(ops.length - 1, (changed[end] ?? 0) + context);
    const hunk = ops.slice(from, to + 1);
    const oldCount = hunk.filter((op) => op.kind !== '+').length;
    const newCount = hunk.filter((op) => op.kind !== '-').length;
    const oldStart = (hunk[0]?.oldLine ?? 0) + (oldCount === 0 ? 0 : 1);
    const newStart = (hunk[0]?.newLine ?? 0) + (newCount === 0 ? 0 : 1);
    out.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`);
    for (const op of hunk) out.push(`${op.kind}${op.text}`);
    start = end + 1;
  }
  if (changed.length === 0) out.push('\\ No newline at end of file (only the final newline differs)');
  return `${out.join('\n')}\n`;
}
