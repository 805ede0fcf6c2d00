/**
 * The guest agent's rules for a status file (contract §5.1-§5.3), as a checker that
 * returns every violation. Tests assert it returns none.
 */
const STATUS_VALUES = new Set(['transitioning', 'warning', 'error', 'success']);

function checkMessage(value: unknown, where: string, problems: string[]): void {
  if (value === null || value === undefined) {
    problems.push(`${where}.formattedMessage is missing (always write one)`);
    return;
  }
  if (typeof value !== 'object') {
    problems.push(`${where}.formattedMessage is not an object`);
    return;
  }
  const message = value as { lang?: unknown; message?: unknown };
  if (typeof message.lang !== 'string') problems.push(`${where}.formattedMessage.lang is not a string`);
  if (typeof message.message !== 'string') problems.push(`${where}.formattedMessage.message is not a string`);
  else if (message.message.length > 1024) problems.push(`${where}.formattedMessage.message is over 1024 characters`);
}

export function statusContractViolations(text: string): string[] {
  const problems: string[] = [];
  if (text.startsWith('\uFEFF')) problems.push('starts with a BOM');
  if (text.length > 128 * 1024) problems.push('is over 128 KiB');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return [...problems, 'is not JSON'];
  }
  if (!Array.isArray(document)) return [...problems, 'top level is not an array'];
  if (document.length === 0) return [...problems, 'is an empty array'];
  const first = document[0] as { status?: Record<string, unknown> } | null;
  const status = first?.status;
  if (typeof status !== 'object' || status === null) return [...problems, '[0].status is missing'];
  if (typeof status.status !== 'string' || !STATUS_VALUES.has(status.status)) problems.push(`status.status is not one of ${[...STATUS_VALUES].join('/')}`);
  if (!Number.isInteger(status.code)) problems.push('status.code is not an integer');
  checkMessage(status.formattedMessage, 'status', problems);
  const substatus = status.substatus;
  if (substatus !== undefined && substatus !== null) {
    if (!Array.isArray(substatus)) problems.push('status.substatus is not an array');
    else {
      substatus.forEach((entry: unknown, index) => {
        const where = `substatus[${index}]`;
        if (entry === null) return;
        const item = entry as Record<string, unknown>;
        if (typeof item.status !== 'string' || !STATUS_VALUES.has(item.status)) problems.push(`${where}.status is invalid`);
        if (!Number.isInteger(item.code)) problems.push(`${where}.code is not an integer`);
        if (typeof item.name !== 'string') problems.push(`${where}.name is not a string`);
        checkMessage(item.formattedMessage, where, problems);
      });
    }
  }
  return problems;
}
