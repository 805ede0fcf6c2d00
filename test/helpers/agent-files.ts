/** Files the guest agent writes, byte for byte as it writes them (Python's json.dumps). */

/** Python's json.dumps defaults (`, ` and `: ` separators, ASCII only), which the agent uses. */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).map(([key, item]) => `${pythonJson(key)}: ${pythonJson(item)}`);
  return `{${entries.join(', ')}}`;
}

/** HandlerEnvironment.json exactly as the agent writes it (contract §1.2): one line, Python's separators. */
export function handlerEnvironmentText(handlerDir: string, logFolder: string, name = 'Microsoft.OSTCExtensions.VMAccessForLinux'): string {
  return (
    `[{"name": ${pythonJson(name)}, "version": 1.0, "handlerEnvironment": {` +
    [
      `"logFolder": ${pythonJson(logFolder)}`,
      `"configFolder": ${pythonJson(`${handlerDir}/config`)}`,
      `"statusFolder": ${pythonJson(`${handlerDir}/status`)}`,
      `"heartbeatFile": ${pythonJson(`${handlerDir}/heartbeat.log`)}`,
      `"eventsFolder": ${pythonJson(`${logFolder}/events`)}`,
      `"eventsFolder_preview": ${pythonJson(`${logFolder}/events`)}`,
    ].join(', ') +
    '}}]'
  );
}

/** `config/<seq>.settings` as the agent writes it (contract §2.1): one line, no trailing newline. */
export function settingsDocument(publicSettings: unknown, protectedSettings: string | null, thumbprint: string | null): string {
  return pythonJson({ runtimeSettings: [{ handlerSettings: { publicSettings, protectedSettings, protectedSettingsCertThumbprint: thumbprint } }] });
}
