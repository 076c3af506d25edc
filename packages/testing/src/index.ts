/**
 * A scripted token endpoint behind a mock `HttpClient`, with canned Spotify replies and a record of the requests.
 * This entry loads anywhere, a browser included; the Node-only parts have their own: `@token-refresher/testing/node`
 * (the fake HTTP server, child processes) and `@token-refresher/testing/TokenStoreContract` (the store suite, vitest).
 *
 * @since 0.1.0
 */
export * as MockTokenEndpoint from "./MockTokenEndpoint.js"

/**
 * The usual test layers over `MockTokenEndpoint` (a refresher, a manager with its store) and a `TokenSet` builder.
 *
 * @since 0.3.0
 */
export * as TestStack from "./TestStack.js"
