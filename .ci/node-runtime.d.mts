// Types for node-runtime.mjs (plain JavaScript so that it runs with node alone; tests import it).
export type RuntimeArch = 'x64' | 'arm64';
export declare const NODE_RUNTIME: { version: string; arches: Record<RuntimeArch, { package: string; integrity: string }> };
export declare const ELF_MACHINES: Record<RuntimeArch, { machine: number; name: string; interpreter: string }>;
export declare function parseElfHeader(bytes: Buffer): { machine: number; interpreter: string | undefined };
export declare function assertRuntimeArchitecture(bytes: Buffer, arch: string): void;
export declare function requiredGlibc(bytes: Buffer): string | undefined;
export declare function compareVersions(a: readonly number[], b: readonly number[]): number;
export declare function fileIntegrity(file: string): Promise<string>;
export declare function fetchRuntime(arch: RuntimeArch, cacheDir: string, log?: (line: string) => void): Promise<{ node: string; license: string }>;
