// Types for runtime-libs.mjs (plain JavaScript so that it runs with node alone; tests import it).
import type { RuntimeArch } from './node-runtime.mjs';

export interface PinnedDeb { package: string; version: string; pool: string; sha256: string }
export declare function debianMirror(): Promise<string>;
export declare const RUNTIME_LIBS: { glibc: string; arches: Record<RuntimeArch, { triplet: string; loader: string; debs: PinnedDeb[] }> };
export declare function runtimeLibFiles(arch: RuntimeArch): [name: string, insideDeb: string][];
export declare function sha256Of(file: string): Promise<string>;
export declare function fetchRuntimeLibs(arch: RuntimeArch, cacheDir: string, log?: (line: string) => void): Promise<{ dir: string; files: { name: string; file: string }[]; notices: string }>;
