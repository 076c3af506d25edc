/**
 * Production `TokenRefresher` layers on Node.js: `NodeTokenRefresher.layer(...)`, `NodeTokenRefresher.layerSpotify()`.
 *
 * @since 0.1.0
 */
export * as NodeTokenRefresher from "./NodeTokenRefresher.js"
