/** Types for serve.mjs (the harness and folder servers), for TypeScript callers such as the browser tests. */
export interface Served { url: string; close(): Promise<void> }
export declare function startServer(port?: number): Promise<Served>;
export declare function startFolderServer(dir: string, port?: number, host?: string): Promise<Served>;
