/**
 * A scripted token endpoint behind a mock `HttpClient`, with canned Spotify replies and a record of the requests.
 *
 * @since 0.1.0
 */
export * as MockTokenEndpoint from "./MockTokenEndpoint.js"
