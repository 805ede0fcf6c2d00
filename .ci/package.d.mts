// Types for package.mjs (plain JavaScript so that it runs with node alone; tests import it).
export declare const HANDLER_NAME: string;
export declare const REPOSITORY_PARTS: readonly string[];
export declare const RUNTIME_ARCHES: readonly ['x64', 'arm64'];
export declare const SHIM_TOOLS: readonly string[];
export declare function zipFileName(version: string): string;
export declare function collectRepositoryFiles(root: string, relative: string): Promise<{ name: string; file: string; executable: boolean }[]>;
export declare function manifestCommandTargets(text: string): string[];
export declare function shimMinimumGlibc(shimText: string): string;
export declare function hostArch(): 'x64' | 'arm64' | undefined;
export declare function sha256File(file: string): Promise<string>;
export declare function toolsWithoutNode(dir: string): Promise<string>;
export declare function extractZip(zipFile: string, dir: string, keep?: (name: string) => boolean): Promise<void>;
export interface PackageResult { zipFile: string; size: number; sha256: string; entries: number; version: string }
export declare function buildPackage(options?: { root?: string; outDir?: string; cacheDir?: string; log?: (line: string) => void; smoke?: boolean }): Promise<PackageResult>;
