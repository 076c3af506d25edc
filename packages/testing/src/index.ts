/**
 * A scripted token endpoint behind a mock `HttpClient`, with canned Spotify replies and a record of the requests.
 *
 * @since 0.1.0
 */
export * as MockTokenEndpoint from "./MockTokenEndpoint.js"

/**
 * A real HTTP server on 127.0.0.1 that behaves like Spotify's accounts service, with fault injection.
 *
 * @since 0.1.0
 */
export * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"
