/**
 * Keep OAuth 2.0 tokens fresh in the browser: stores shared by every tab, one refresh across tabs, and the login.
 *
 * @since 0.6.0
 */

/**
 * A login in the browser: the authorization code flow with PKCE, by redirect.
 *
 * @since 0.6.0
 */
export * as BrowserLogin from "./BrowserLogin.js"

/**
 * The `TokenRefresher` in the browser, over `fetch`, for public clients.
 *
 * @since 0.6.0
 */
export * as BrowserTokenRefresher from "./BrowserTokenRefresher.js"

/**
 * Token stores in `localStorage` and IndexedDB, locked across tabs with Web Locks.
 *
 * @since 0.6.0
 */
export * as BrowserTokenStore from "./BrowserTokenStore.js"
