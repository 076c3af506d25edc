/**
 * A real HTTP server on 127.0.0.1 that behaves like Spotify's accounts service (and, with a `profile`, like other
 * providers), with fault injection. Node only: it is kept out of the main entry, which loads in a browser.
 *
 * @since 0.3.0
 */
export * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"

/**
 * Child processes for multi-process tests (Node only): `spawnNode`, `runScript`, workers and their summaries.
 *
 * @since 0.3.0
 */
export * as MultiProcess from "./MultiProcess.js"
