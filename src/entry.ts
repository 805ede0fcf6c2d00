import { main } from './main.js';

// The bundle's entry point: the only place that touches the process itself.
process.exitCode = await main({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  pid: process.pid,
  nodeVersion: process.version,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
