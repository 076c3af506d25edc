/**
 * The production `HttpClient` for token requests: undici, a keep-alive `Agent` with a connection cap, and the
 * per-attempt deadline enforced by the client.
 *
 * @since 0.3.0
 */
export * as NodeTokenClient from "./NodeTokenClient.js"

/**
 * Production `TokenRefresher` layers on Node.js: `NodeTokenRefresher.layer(...)`, `NodeTokenRefresher.layerConfig(...)`.
 *
 * @since 0.1.0
 */
export * as NodeTokenRefresher from "./NodeTokenRefresher.js"

/**
 * A `TokenStore` in a file: `NodeTokenStore.layerFile(path)`, atomic writes with mode 0600;
 * `NodeTokenStore.configFile(name)`, a path in the per-user config folder.
 *
 * @since 0.1.0
 */
export * as NodeTokenStore from "./NodeTokenStore.js"
