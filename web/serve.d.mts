/** Types for serve.mjs (the harness server), for TypeScript callers such as the browser test. */
export declare function startServer(port?: number): Promise<{ url: string; close(): Promise<void> }>;
