import type { UserWorkspaceConfig } from "vitest/config";
declare const packages: readonly ["core", "spotify", "providers", "node", "testing", "cli", "sql", "redis", "browser"];
/**
 * Workspace packages resolve to their sources, so tests run on a fresh clone without a build.
 */
export declare const alias: {
    find: RegExp;
    replacement: string;
}[];
export declare const project: (name: (typeof packages)[number]) => UserWorkspaceConfig;
/** Debian's Chromium, driven by playwright; nothing downloads a browser. */
export declare const chromiumPath: string;
/** The flags Chromium runs with here: headless, offline but for loopback. */
export declare const chromiumArgs: string[];
/** The browser package's `*.browser.test.ts`: they run in Chromium (vitest's browser mode), not in Node. */
export declare const browserProject: UserWorkspaceConfig;
export declare const projects: UserWorkspaceConfig[];
export {};
//# sourceMappingURL=vitest.shared.d.ts.map