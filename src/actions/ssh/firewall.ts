import type { System } from '../../system/system.js';

/**
 * Making sure the SSH port(s) are open in the host firewall (reset_ssh). Only the
 * ports sshd listens on, only where something would block them, IPv4 and IPv6.
 * Front-ends first: when firewalld or ufw is active it owns the rules and is the
 * only thing changed; otherwise iptables/ip6tables and native nftables tables.
 * Every loop runs over a finite list of ports and chains, and every command has
 * a timeout (the original could loop forever waiting for the firewall).
 */

/**
 * Every rule the extension adds says it is ours, so an audit or a later clean-up can
 * find exactly those: `-m comment --comment vmaccess` (iptables/ip6tables), an nft
 * rule comment, a ufw rule comment, and under firewalld (whose ports and rich rules
 * carry no comment) a firewalld service of our own, described as the extension's.
 */
export const RULE_MARK = 'vmaccess';
export const FIREWALLD_SERVICE = 'vmaccess-ssh';

export interface FirewallCommand {
  file: string;
  args: string[];
}

export interface FirewallRule {
  /** Human-readable, for the plan and the status: `iptables: accept tcp/22 in INPUT`. */
  description: string;
  commands: FirewallCommand[];
  /** Run instead when `commands` fail (iptables without the comment match: an unmarked rule beats a closed port). */
  fallback?: FirewallCommand[];
}

export interface FirewallPlan {
  rules: FirewallRule[];
  /** What was looked at and found fine, or could not be inspected. */
  notes: string[];
}

const TIMEOUT_MS = 20_000;

async function runQuiet(system: System, file: string, args: string[]): Promise<{ ok: boolean; stdout: string; started: boolean }> {
  const result = await system.run(file, args, { timeoutMs: TIMEOUT_MS });
  return { ok: result.started && result.exitCode === 0, stdout: result.stdout, started: result.started };
}

/** `iptables -S INPUT`: does anything in INPUT drop or reject, or is the policy DROP? */
export function iptablesBlocks(listing: string): boolean {
  return listing.split('\n').some((line) => /^-P INPUT (DROP|REJECT)\b/.test(line) || (/^-A INPUT\b/.test(line) && /-j (DROP|REJECT)\b/.test(line)));
}

export function iptablesAccepts(listing: string, port: number): boolean {
  return listing.split('\n').some((line) => {
    if (!/^-A INPUT\b/.test(line) || !/-j ACCEPT\b/.test(line) || /! --dport/.test(line)) return false;
    if (/-p (udp|icmp)/.test(line)) return false;
    const single = /--dport (\d+)(?::(\d+))?\b/.exec(line);
    if (single !== null) {
      const low = Number(single[1]);
      const high = single[2] === undefined ? low : Number(single[2]);
      return port >= low && port <= high;
    }
    const multi = /--dports (\S+)/.exec(line);
    if (multi?.[1] !== undefined) return multi[1].split(',').some((item) => Number(item) === port);
    // An ACCEPT without conditions other than state/interface lo is not about this port.
    return false;
  });
}

/** `ufw status` lines such as `22/tcp  ALLOW  Anywhere` or `OpenSSH  ALLOW  Anywhere`. */
export function ufwAllows(status: string, port: number): boolean {
  return status.split('\n').some((line) => {
    const [target] = line.trim().split(/\s+/);
    if (!/\bALLOW\b/.test(line) || target === undefined) return false;
    if (target === `${port}/tcp` || target === String(port)) return true;
    return port === 22 && target === 'OpenSSH';
  });
}

interface NftObject {
  table?: { family: string; name: string };
  chain?: { family: string; table: string; name: string; hook?: string; policy?: string; type?: string };
  rule?: { family: string; table: string; chain: string; expr?: unknown[] };
}

function exprHasVerdict(expr: unknown[] | undefined, verdicts: string[]): boolean {
  return (expr ?? []).some((item) => typeof item === 'object' && item !== null && verdicts.some((verdict) => verdict in item));
}

function exprAcceptsTcpPort(expr: unknown[] | undefined, port: number): boolean {
  if (!exprHasVerdict(expr, ['accept'])) return false;
  return (expr ?? []).some((item) => {
    const match = (item as { match?: { op?: string; left?: { payload?: { protocol?: string; field?: string } }; right?: unknown } }).match;
    if (match?.left?.payload?.protocol !== 'tcp' || match.left.payload.field !== 'dport') return false;
    if (match.op !== undefined && match.op !== '==' && match.op !== 'in') return false;
    const right = match.right;
    if (typeof right === 'number') return right === port;
    const set = (right as { set?: unknown[] } | undefined)?.set;
    if (Array.isArray(set)) {
      return set.some((element) => element === port || (Array.isArray((element as { range?: unknown[] }).range) && isInRange((element as { range: unknown[] }).range, port)));
    }
    const range = (right as { range?: unknown[] } | undefined)?.range;
    return Array.isArray(range) && isInRange(range, port);
  });
}

function isInRange(range: unknown[], port: number): boolean {
  const [low, high] = range;
  return typeof low === 'number' && typeof high === 'number' && port >= low && port <= high;
}

/** Native nftables input chains that block and lack an accept for the port. */
export function nftMissingAccepts(rulesetJson: string, ports: readonly number[], skipTable: (family: string, table: string) => boolean): FirewallRule[] {
  let objects: NftObject[];
  try {
    objects = ((JSON.parse(rulesetJson) as { nftables?: NftObject[] }).nftables ?? []).filter((item) => typeof item === 'object');
  } catch {
    return [];
  }
  const rules: FirewallRule[] = [];
  const chains = objects.map((item) => item.chain).filter((chain): chain is NonNullable<NftObject['chain']> => chain?.hook === 'input');
  for (const chain of chains) {
    if (!['ip', 'ip6', 'inet'].includes(chain.family) || skipTable(chain.family, chain.table)) continue;
    const chainRules = objects.map((item) => item.rule).filter((rule) => rule !== undefined && rule.family === chain.family && rule.table === chain.table && rule.chain === chain.name);
    const blocks = chain.policy === 'drop' || chainRules.some((rule) => exprHasVerdict(rule?.expr, ['drop', 'reject']));
    if (!blocks) continue;
    for (const port of ports) {
      if (chainRules.some((rule) => exprAcceptsTcpPort(rule?.expr, port))) continue;
      rules.push({
        description: `nftables: accept tcp/${port} in ${chain.family} ${chain.table} ${chain.name}`,
        // nft parses its arguments as one line: the comment needs its quotes.
        commands: [{ file: 'nft', args: ['insert', 'rule', chain.family, chain.table, chain.name, 'tcp', 'dport', String(port), 'accept', 'comment', `"${RULE_MARK}"`] }],
      });
    }
  }
  return rules;
}

const IPTABLES_NFT_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

/**
 * firewalld: the port opens now in the runtime configuration, and for good through a
 * permanent service of the extension's own (`vmaccess-ssh`, described as ours), which
 * is what the runtime configuration becomes at the next reload or boot. A permanent
 * service cannot be used at runtime without `firewall-cmd --reload`, which would drop
 * every runtime-only rule an admin has added, so it is not reloaded.
 */
async function planFirewalld(system: System, ports: readonly number[], plan: FirewallPlan): Promise<void> {
  const missing: number[] = [];
  for (const port of ports) {
    const open = (await runQuiet(system, 'firewall-cmd', [`--query-port=${port}/tcp`])).ok || (port === 22 && (await runQuiet(system, 'firewall-cmd', ['--query-service=ssh'])).ok);
    if (open) plan.notes.push(`firewalld already allows tcp/${port}`);
    else missing.push(port);
  }
  if (missing.length === 0) return;
  const permanent = (...args: string[]): FirewallCommand => ({ file: 'firewall-cmd', args: ['--permanent', ...args] });
  const exists = (await runQuiet(system, 'firewall-cmd', ['--permanent', `--info-service=${FIREWALLD_SERVICE}`])).ok;
  const setup: FirewallCommand[] = exists
    ? []
    : [
        permanent(`--new-service=${FIREWALLD_SERVICE}`),
        permanent(`--service=${FIREWALLD_SERVICE}`, `--set-short=${RULE_MARK}`),
        permanent(`--service=${FIREWALLD_SERVICE}`, '--set-description=SSH port(s) opened by the VMAccess extension (vmaccess) for reset_ssh'),
      ];
  for (const [index, port] of missing.entries()) {
    plan.rules.push({
      description: `firewalld: allow tcp/${port} (runtime, and permanent in the ${FIREWALLD_SERVICE} service)`,
      commands: [
        ...(index === 0 ? setup : []),
        { file: 'firewall-cmd', args: [`--add-port=${port}/tcp`] },
        permanent(`--service=${FIREWALLD_SERVICE}`, `--add-port=${port}/tcp`),
        permanent(`--add-service=${FIREWALLD_SERVICE}`),
      ],
    });
  }
}

type Query = { ok: boolean; stdout: string; started: boolean };

const NOT_ASKED: Query = { ok: false, stdout: '', started: false };

/** What the firewalls on this machine say (read-only questions, asked side by side). */
export interface FirewallState {
  firewalld: Query;
  ufw: Query;
  /** Asked only when neither firewalld runs nor ufw is active (they own the rules then). */
  iptables: Query;
  iptablesVersion: Query;
  ip6tables: Query;
  nft: Query;
}

export async function readFirewallState(system: System): Promise<FirewallState> {
  const [firewalld, ufw] = await Promise.all([runQuiet(system, 'firewall-cmd', ['--state']), runQuiet(system, 'ufw', ['status'])]);
  // Not even a listing through iptables under firewalld or ufw: on a legacy-iptables
  // machine it would load the kernel's ip_tables modules beside their rules.
  if (firewalld.ok || (ufw.ok && /^Status: active/m.test(ufw.stdout))) return { firewalld, ufw, iptables: NOT_ASKED, iptablesVersion: NOT_ASKED, ip6tables: NOT_ASKED, nft: NOT_ASKED };
  const [iptables, iptablesVersion, ip6tables, nft] = await Promise.all([
    runQuiet(system, 'iptables', ['-w', '10', '-S', 'INPUT']),
    runQuiet(system, 'iptables', ['-V']),
    runQuiet(system, 'ip6tables', ['-w', '10', '-S', 'INPUT']),
    runQuiet(system, 'nft', ['-j', 'list', 'ruleset']),
  ]);
  return { firewalld, ufw, iptables, iptablesVersion, ip6tables, nft };
}

/** The rules that let `ports` in, from the state read before (firewalld is asked per port). */
export async function planFirewall(system: System, ports: readonly number[], state?: FirewallState): Promise<FirewallPlan> {
  const plan: FirewallPlan = { rules: [], notes: [] };
  const { firewalld, ufw, iptables, iptablesVersion, ip6tables, nft } = state ?? (await readFirewallState(system));
  if (firewalld.ok) {
    await planFirewalld(system, ports, plan);
    return plan;
  }

  if (ufw.ok && /^Status: active/m.test(ufw.stdout)) {
    for (const port of ports) {
      if (ufwAllows(ufw.stdout, port)) plan.notes.push(`ufw already allows tcp/${port}`);
      else plan.rules.push({ description: `ufw: allow tcp/${port}`, commands: [{ file: 'ufw', args: ['allow', `${port}/tcp`, 'comment', RULE_MARK] }] });
    }
    return plan;
  }

  let iptablesIsNft = false;
  for (const [tool, listing] of [['iptables', iptables], ['ip6tables', ip6tables]] as const) {
    if (!listing.started) {
      plan.notes.push(`${tool} is not installed`);
      continue;
    }
    if (!listing.ok) {
      plan.notes.push(`${tool} rules could not be read`);
      continue;
    }
    if (tool === 'iptables') iptablesIsNft = /nf_tables/.test(iptablesVersion.stdout);
    if (!iptablesBlocks(listing.stdout)) {
      plan.notes.push(`${tool}: INPUT accepts by default`);
      continue;
    }
    for (const port of ports) {
      if (iptablesAccepts(listing.stdout, port)) plan.notes.push(`${tool} already accepts tcp/${port}`);
      else {
        const rule = ['-w', '10', '-I', 'INPUT', '1', '-p', 'tcp', '-m', 'tcp', '--dport', String(port)];
        plan.rules.push({
          description: `${tool}: accept tcp/${port} at the top of INPUT`,
          commands: [{ file: tool, args: [...rule, '-m', 'comment', '--comment', RULE_MARK, '-j', 'ACCEPT'] }],
          fallback: [{ file: tool, args: [...rule, '-j', 'ACCEPT'] }],
        });
      }
    }
  }

  if (!nft.started) plan.notes.push('nft is not installed');
  else if (!nft.ok) plan.notes.push('the nftables ruleset could not be read');
  else {
    // Tables that iptables-nft manages were handled through iptables above.
    const skip = (family: string, table: string): boolean => iptablesIsNft && (family === 'ip' || family === 'ip6') && IPTABLES_NFT_TABLES.has(table);
    plan.rules.push(...nftMissingAccepts(nft.stdout, ports, skip));
  }
  return plan;
}

export interface FirewallResult {
  added: string[];
  failed: string[];
}

export async function applyFirewall(system: System, plan: FirewallPlan): Promise<FirewallResult> {
  const result: FirewallResult = { added: [], failed: [] };
  for (const rule of plan.rules) {
    let ok = await runAll(system, rule.commands);
    if (!ok && rule.fallback !== undefined) ok = await runAll(system, rule.fallback);
    (ok ? result.added : result.failed).push(rule.description);
  }
  return result;
}

async function runAll(system: System, commands: readonly FirewallCommand[]): Promise<boolean> {
  for (const command of commands) {
    const run = await system.run(command.file, command.args, { timeoutMs: TIMEOUT_MS });
    if (!run.started || run.exitCode !== 0) return false;
  }
  return true;
}
