import type { Invocation, Runtime } from './runtime.js';

/**
 * disable: VMAccess has nothing running between enables, so there is nothing to
 * stop. It must succeed, change nothing, and work without a settings file (during an
 * upgrade the old version gets the new seq).
 */
export async function disable(runtime: Runtime, invocation: Invocation): Promise<number> {
  runtime.logger.info('disable: nothing to stop');
  await invocation.events.emit({ taskName: 'Disable', level: 'Informational', message: 'disabled; nothing was changed' });
  runtime.print('disable: nothing to stop');
  return 0;
}
