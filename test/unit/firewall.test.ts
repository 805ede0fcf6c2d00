import { describe, expect, test } from 'vitest';
import { applyFirewall, iptablesAccepts, iptablesBlocks, nftMissingAccepts, planFirewall, ufwAllows } from '../../src/actions/ssh/firewall.js';
import { FakeSystem } from '../fakes/fake-system.js';

/** Azure Linux 3's /etc/systemd/scripts/ip4save as `iptables -S` prints it. */
const AZURE_LINUX = ['-P INPUT DROP', '-P FORWARD DROP', '-P OUTPUT DROP', '-A INPUT -i lo -j ACCEPT', '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT', '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT'].join('\n');

function notInstalled(system: FakeSystem, ...tools: string[]): FakeSystem {
  for (const tool of tools) system.onCommand(tool, () => ({ exitCode: 127, started: false }));
  return system;
}

describe('iptables listing', () => {
  test('Azure Linux default: blocks, but accepts 22; 2222 is not accepted', () => {
    expect(iptablesBlocks(AZURE_LINUX)).toBe(true);
    expect(iptablesAccepts(AZURE_LINUX, 22)).toBe(true);
    expect(iptablesAccepts(AZURE_LINUX, 2222)).toBe(false);
  });

  test('our own marked rule counts as accepting (a second reset adds nothing)', () => {
    expect(iptablesAccepts('-P INPUT DROP\n-A INPUT -p tcp -m tcp --dport 2222 -m comment --comment vmaccess -j ACCEPT\n', 2222)).toBe(true);
  });

  test('accept-all policy does not block; a REJECT rule does', () => {
    expect(iptablesBlocks('-P INPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\n')).toBe(false);
    expect(iptablesBlocks('-P INPUT ACCEPT\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset\n')).toBe(true);
  });

  test('port ranges and multiport', () => {
    expect(iptablesAccepts('-A INPUT -p tcp -m tcp --dport 20:30 -j ACCEPT', 22)).toBe(true);
    expect(iptablesAccepts('-A INPUT -p tcp -m multiport --dports 80,22 -j ACCEPT', 22)).toBe(true);
    expect(iptablesAccepts('-A INPUT -p udp -m udp --dport 22 -j ACCEPT', 22)).toBe(false);
  });
});

describe('ufw status', () => {
  test.each([
    ['22/tcp                     ALLOW       Anywhere', 22, true],
    ['OpenSSH                    ALLOW       Anywhere', 22, true],
    ['22/tcp                     DENY        Anywhere', 22, false],
    ['2222                       ALLOW       Anywhere', 2222, true],
  ])('%j port %i', (line, port, expected) => {
    expect(ufwAllows(`Status: active\n\nTo Action From\n-- ------ ----\n${line}\n`, port)).toBe(expected);
  });
});

describe('nftables', () => {
  const ruleset = (policy: string, rules: unknown[]): string =>
    JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { table: { family: 'inet', name: 'filter' } },
        { chain: { family: 'inet', table: 'filter', name: 'input', type: 'filter', hook: 'input', prio: 0, policy } },
        ...rules.map((expr) => ({ rule: { family: 'inet', table: 'filter', chain: 'input', expr } })),
      ],
    });
  const tcpDport = (right: unknown): unknown => ({ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right } });

  test('policy drop without an accept for 22: insert one', () => {
    expect(nftMissingAccepts(ruleset('drop', []), [22], () => false)).toEqual([
      { description: 'nftables: accept tcp/22 in inet filter input', commands: [{ file: 'nft', args: ['insert', 'rule', 'inet', 'filter', 'input', 'tcp', 'dport', '22', 'accept', 'comment', '"vmaccess"'] }] },
    ]);
  });

  test('already accepted (number, set, range) or nothing blocks: no rule', () => {
    expect(nftMissingAccepts(ruleset('drop', [[tcpDport(22), { accept: null }]]), [22], () => false)).toEqual([]);
    expect(nftMissingAccepts(ruleset('drop', [[tcpDport({ set: [80, 22] }), { accept: null }]]), [22], () => false)).toEqual([]);
    expect(nftMissingAccepts(ruleset('drop', [[tcpDport({ range: [20, 30] }), { accept: null }]]), [22], () => false)).toEqual([]);
    expect(nftMissingAccepts(ruleset('accept', []), [22], () => false)).toEqual([]);
  });

  test('tables owned by someone else are skipped; garbage is no rules', () => {
    expect(nftMissingAccepts(ruleset('drop', []), [22], () => true)).toEqual([]);
    expect(nftMissingAccepts('not json', [22], () => false)).toEqual([]);
  });
});

describe('planFirewall / applyFirewall', () => {
  test('firewalld running: only firewalld; runtime port now, permanent through the vmaccess-ssh service it creates (#8)', async () => {
    // firewalld and ufw are asked side by side; with firewalld running nothing else is asked.
    const system = notInstalled(new FakeSystem(), 'ufw');
    system.onCommand('firewall-cmd', (call) => ({ exitCode: call.args[0] === '--state' ? 0 : 1, stdout: 'running\n' }));
    const plan = await planFirewall(system, [2222, 22]);
    expect(plan.rules.map((rule) => rule.commands.map((command) => command.args.join(' ')))).toEqual([
      [
        '--permanent --new-service=vmaccess-ssh',
        '--permanent --service=vmaccess-ssh --set-short=vmaccess',
        '--permanent --service=vmaccess-ssh --set-description=SSH port(s) opened by the VMAccess extension (vmaccess) for reset_ssh',
        '--add-port=2222/tcp',
        '--permanent --service=vmaccess-ssh --add-port=2222/tcp',
        '--permanent --add-service=vmaccess-ssh',
      ],
      ['--add-port=22/tcp', '--permanent --service=vmaccess-ssh --add-port=22/tcp', '--permanent --add-service=vmaccess-ssh'],
    ]);
    expect(system.calls.some((call) => call.file === 'iptables')).toBe(false);
  });

  test('firewalld with the vmaccess-ssh service already there (an earlier reset): only the port is added to it', async () => {
    const system = notInstalled(new FakeSystem(), 'ufw');
    system.onCommand('firewall-cmd', (call) => ({ exitCode: call.args[0] === '--state' || call.args.includes('--info-service=vmaccess-ssh') ? 0 : 1 }));
    const plan = await planFirewall(system, [2222]);
    expect(plan.rules.map((rule) => rule.commands.map((command) => command.args.join(' ')))).toEqual([
      ['--add-port=2222/tcp', '--permanent --service=vmaccess-ssh --add-port=2222/tcp', '--permanent --add-service=vmaccess-ssh'],
    ]);
  });

  test('ufw active without the port: the rule carries the vmaccess comment', async () => {
    const system = notInstalled(new FakeSystem(), 'firewall-cmd');
    system.onCommand('ufw', () => ({ stdout: 'Status: active\n\nTo Action From\n80/tcp ALLOW Anywhere\n' }));
    const plan = await planFirewall(system, [22]);
    expect(plan.rules.map((rule) => rule.commands)).toEqual([[{ file: 'ufw', args: ['allow', '22/tcp', 'comment', 'vmaccess'] }]]);
  });

  test('iptables without the comment match: the unmarked rule still opens the port', async () => {
    const system = new FakeSystem();
    system.onCommand('iptables', (call) => ({ exitCode: call.args.includes('comment') ? 2 : 0 }));
    const rule = { description: 'iptables: accept tcp/22', commands: [{ file: 'iptables', args: ['-m', 'comment'] }], fallback: [{ file: 'iptables', args: ['plain'] }] };
    expect(await applyFirewall(system, { rules: [rule], notes: [] })).toEqual({ added: ['iptables: accept tcp/22'], failed: [] });
    expect(system.commandsRun('iptables').map((call) => call.args.join(' '))).toEqual(['-m comment', 'plain']);
  });

  test('ufw active and already allowing OpenSSH: nothing to add', async () => {
    const system = notInstalled(new FakeSystem(), 'firewall-cmd');
    system.onCommand('ufw', () => ({ stdout: 'Status: active\n\nTo Action From\nOpenSSH ALLOW Anywhere\nOpenSSH (v6) ALLOW Anywhere (v6)\n' }));
    const plan = await planFirewall(system, [22]);
    expect(plan.rules).toEqual([]);
    expect(plan.notes).toEqual(['ufw already allows tcp/22']);
  });

  test('iptables and ip6tables with DROP policies, nft owned by iptables-nft: one rule per family, applied', async () => {
    const system = notInstalled(new FakeSystem(), 'firewall-cmd', 'ufw');
    const inserted: string[] = [];
    for (const tool of ['iptables', 'ip6tables']) {
      system.onCommand(tool, (call) => {
        if (call.args.includes('-S')) return { stdout: '-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n' };
        if (call.args.includes('-V')) return { stdout: 'iptables v1.8.9 (nf_tables)\n' };
        inserted.push(`${tool} ${call.args.join(' ')}`);
        return { exitCode: 0 };
      });
    }
    system.onCommand('nft', () => ({
      stdout: JSON.stringify({ nftables: [{ chain: { family: 'ip', table: 'filter', name: 'INPUT', hook: 'input', policy: 'drop' } }] }),
    }));
    const plan = await planFirewall(system, [22]);
    expect(plan.rules.map((rule) => rule.description)).toEqual(['iptables: accept tcp/22 at the top of INPUT', 'ip6tables: accept tcp/22 at the top of INPUT']);
    const result = await applyFirewall(system, plan);
    expect(result).toEqual({ added: plan.rules.map((rule) => rule.description), failed: [] });
    expect(inserted).toEqual([
      'iptables -w 10 -I INPUT 1 -p tcp -m tcp --dport 22 -m comment --comment vmaccess -j ACCEPT',
      'ip6tables -w 10 -I INPUT 1 -p tcp -m tcp --dport 22 -m comment --comment vmaccess -j ACCEPT',
    ]);
  });

  test('a failing command is reported, not thrown', async () => {
    const system = new FakeSystem();
    system.onCommand('nft', () => ({ exitCode: 1 }));
    const result = await applyFirewall(system, { rules: [{ description: 'nft x', commands: [{ file: 'nft', args: ['insert'] }] }], notes: [] });
    expect(result).toEqual({ added: [], failed: ['nft x'] });
  });
});
