// Types for bundle.mjs (plain JavaScript so that it runs with node alone; tests import it).
export declare const REPO_ROOT: string;
export declare const APP_DIR: string;
export declare const APP_ENTRY: string;
export declare function readPackageVersion(root?: string): string;
export interface BundleMetafile {
  inputs: Record<string, { bytes: number }>;
  outputs: Record<string, { bytes: number; imports: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, { bytesInOutput: number }> }>;
}
export declare function bundleApp(options?: { root?: string; version?: string }): Promise<{ files: { path: string; contents: Buffer }[]; metafile: BundleMetafile }>;
export declare function writeApp(options?: { root?: string }): Promise<void>;
export declare function appBuildOptions(options?: { root?: string; version?: string }): Record<string, unknown>;
