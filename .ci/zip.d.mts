// Types for zip.mjs (plain JavaScript so that it runs with node alone; tests import it).
export declare const FILE_MODE: number;
export declare const EXECUTABLE_MODE: number;
export declare const DIRECTORY_MODE: number;
export type ZipInput = { name: string; executable: boolean; data: Buffer; file?: undefined } | { name: string; executable: boolean; file: string; data?: undefined };
export declare function assertSafeEntryName(name: string): void;
export declare function parentDirectories(names: readonly string[]): string[];
export declare function writeReproducibleZip(entries: readonly ZipInput[], outFile: string, options?: { compressionLevel?: number }): Promise<number>;
