/**
 * Short summaries of what a checker found, for status messages: e2fsck asks a question
 * per problem (`... Clear? yes` / `Fix? no`), xfs_repair -n says `would ...`.
 */

export interface CheckerFindings {
  count: number;
  /** The first few problems, one line each. */
  examples: string[];
}

function collect(lines: string[], limit: number): CheckerFindings {
  return { count: lines.length, examples: lines.slice(0, limit).map((line) => (line.length > 120 ? `${line.slice(0, 117)}...` : line)) };
}

/** Problems e2fsck reported (answered yes with -y, no with -n). */
export function e2fsckFindings(output: string, limit = 3): CheckerFindings {
  const problems: string[] = [];
  const lines = output.split('\n').map((line) => line.trim());
  lines.forEach((line, index) => {
    // The question may be on the same line as the problem or on the next one.
    const match = /^(.*?)\s*(?:Clear|Fix|Connect to \/lost\+found|Salvage|Relocate|Recreate|Optimize|Delete file|Clone multiply-claimed blocks|Abort|Ignore error|Force rewrite|Clear inode|Clear HTree index)\?\s*(yes|no)$/i.exec(line);
    if (match === null) return;
    const own = (match[1] ?? '').trim();
    const text = own !== '' ? own : (lines[index - 1] ?? '').trim();
    if (text !== '') problems.push(text);
  });
  return collect(problems, limit);
}

/** Problems xfs_repair reported: `would ...` lines in -n mode, fix messages otherwise. */
export function xfsRepairFindings(output: string, limit = 3): CheckerFindings {
  const problems = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) =>
      /\bwould (?:have )?(?:reset|clear|move|junk|fix|correct|rebuild|zero|free|set|clearing)|\bbad |corrupt|disconnected inode|entry .* (?:references|points to)|resetting|moving to lost\+found|clearing|junking|fixing|correcting/i.test(
        line,
      ),
    )
    .filter((line) => !/^No modify flag set/i.test(line));
  return collect(problems, limit);
}

export function describeFindings(findings: CheckerFindings): string {
  if (findings.count === 0) return '';
  const more = findings.count > findings.examples.length ? ` (${findings.count} in all)` : '';
  return `${findings.examples.join('; ')}${more}`;
}
