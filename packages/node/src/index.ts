/**
 * Production `TokenRefresher` layers on Node.js: `NodeTokenRefresher.layer(...)`, `NodeTokenRefresher.layerSpotify()`.
 *
 * @since 0.1.0
 */
export * as NodeTokenRefresher from "./NodeTokenRefresher.js"

/**
 * A `TokenStore` in a file: `NodeTokenStore.layerFile(path)`, atomic writes with mode 0600.
 *
 * @since 0.1.0
 */
export * as NodeTokenStore from "./NodeTokenStore.js"
