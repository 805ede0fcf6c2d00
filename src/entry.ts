import { fileURLToPath } from 'node:url';
import { alreadyAppliedSeq } from './lifecycle/enable-noop.js';
import { createRealSystem, writeStdout } from './system/real-system.js';

// The bundle's entry point: the only place that touches the process itself.
// A rejection nobody handles is a defect of ours; it must not kill a rescue half-way and
// leave no status file (Node's default). Said on stderr, where the agent and the tests look,
// by name and code only (the agent ships stderr to telemetry; a message may quote input);
// whoever awaits that promise later still gets its error.
process.on('unhandledRejection', (reason) => {
  const code = (reason as { code?: unknown } | undefined)?.code;
  const what = reason instanceof Error ? `${reason.name}${typeof code === 'string' ? ` [${code}]` : ''}` : 'unknown';
  process.stderr.write(`vmaccess: internal defect: a failure nobody handled: ${what}\n`);
});
const argv = process.argv.slice(2);
const system = createRealSystem();
// Fast path for the agent's repeated enable: nothing else is loaded (see npm run bench).
const appliedSeq = argv.length === 1 && argv[0] === 'enable' ? await alreadyAppliedSeq(system, process.cwd(), process.env) : undefined;
if (appliedSeq === undefined) {
  const { main } = await import('./main.js');
  process.exitCode = await main(
    {
      argv,
      env: process.env,
      cwd: process.cwd(),
      pid: process.pid,
      nodeVersion: process.version,
      // The bundle is dist/app/vmaccess.mjs; resources/ sits at the package root.
      resourcesDir: fileURLToPath(new URL('../../resources', import.meta.url)),
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      memoryUsage: () => process.memoryUsage(),
      uptimeMs: () => Math.round(process.uptime() * 1000),
    },
    system,
  );
} else {
  writeStdout(`seq ${appliedSeq} already applied\n`);
}
