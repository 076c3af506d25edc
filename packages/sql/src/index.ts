/**
 * `SqlTokenStore.layer(options?)`: a `TokenStore` on the `SqlClient` in context (SQLite, PostgreSQL), with the
 * refresh lock in the database.
 *
 * @since 0.1.0
 */
export * as SqlTokenStore from "./SqlTokenStore.js"
