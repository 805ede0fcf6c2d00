// Replaced at bundle time from package.json's version (see the build script).
declare const __VMACCESS_VERSION__: string | undefined;

export const VERSION: string = typeof __VMACCESS_VERSION__ === 'string' ? __VMACCESS_VERSION__ : '0.0.0-dev';
