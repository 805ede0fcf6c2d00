/**
 * What every part of the handler logs through: a record of fields and a message, or a
 * message alone. extension.log implements it (handler/log.ts); tests pass a silent one.
 */
export type LogMethod = (fieldsOrMessage: object | string, message?: string) => void;

export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}
