/**
 * The operations the handler runs: the guest agent's lifecycle commands (HandlerManifest.json)
 * and `expire`, which the access-expiry timer runs. A module of its own so that main.ts can
 * recognise them without loading the command-line parser (cli.ts).
 */

export type LifecycleOperation = 'install' | 'enable' | 'update' | 'disable' | 'uninstall';
export const LIFECYCLE_OPERATIONS: readonly LifecycleOperation[] = ['install', 'enable', 'update', 'disable', 'uninstall'];
/** Operations the handler runs for itself (not in HandlerManifest.json): the access-expiry timer's. */
export type HandlerOperation = LifecycleOperation | 'expire';
const HANDLER_OPERATIONS: readonly HandlerOperation[] = [...LIFECYCLE_OPERATIONS, 'expire'];

export function isHandlerOperation(word: string): word is HandlerOperation {
  return (HANDLER_OPERATIONS as readonly string[]).includes(word);
}
