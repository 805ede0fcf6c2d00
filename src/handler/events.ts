import * as path from 'node:path';
import type { System } from '../system/system.js';

/**
 * Telemetry for the extension telemetry pipeline (contract §6.1): one JSON event
 * per file named `<digits>.json`, all eight keys as strings, moved into the events
 * folder by rename so the agent never reads a partial file.
 */

export type EventLevel = 'Critical' | 'Error' | 'Warning' | 'Verbose' | 'Informational';

export interface TelemetryEvent {
  taskName: string;
  level: EventLevel;
  message: string;
}

export interface EventSink {
  emit(event: TelemetryEvent): Promise<void>;
}

const MESSAGE_LIMIT = 3000;

export function createEventSink(system: System, eventsFolder: string | undefined, identity: { version: string; operationId: string; pid: number }): EventSink {
  let counter = 0;
  return {
    async emit(event) {
      if (eventsFolder === undefined) return;
      const now = system.now();
      // Fixed-width names: the agent sorts them as strings.
      const nanoseconds = BigInt(now.getTime()) * 1_000_000n + BigInt(counter++ % 1_000_000);
      const name = `${nanoseconds.toString().padStart(20, '0')}.json`;
      const body = {
        Version: identity.version,
        Timestamp: now.toISOString().replace('Z', '000Z'),
        TaskName: event.taskName,
        EventLevel: event.level,
        Message: event.message.trim().slice(0, MESSAGE_LIMIT) || '-',
        EventPid: String(identity.pid),
        EventTid: '1',
        OperationId: identity.operationId,
      };
      // The agent deletes everything in the folder on each pass, temp files
      // included: stage the file next to the folder, then rename it in.
      const staging = path.join(path.dirname(eventsFolder), `.${name}.tmp`);
      await system.mkdir(eventsFolder, { recursive: true, mode: 0o700 });
      await system.writeFileAtomic(staging, JSON.stringify(body), { mode: 0o600 });
      await system.rename(staging, path.join(eventsFolder, name));
    },
  };
}
