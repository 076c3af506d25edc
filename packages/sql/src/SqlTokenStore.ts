/**
 * A `TokenStore` in any `@effect/sql` database, with the refresh lock in the database: a transaction-scoped advisory
 * lock on PostgreSQL, a lease row on SQLite.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type * as SqlError from "@effect/sql/SqlError"
import { TokenStore } from "@token-refresher/core"
import * as Clock from "effect/Clock"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"

/**
 * The options of the SQL store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The table that holds the sessions (created on first use). Letters, digits and `_`. Default: `token_refresher_sessions`. */
  readonly table?: string | undefined
  /** How long `withLock` waits for the lock before failing with `TokenStoreError` (`Lock`). Default: 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /**
   * SQLite only: the lease of the lock row, renewed by its holder every third of it. A holder that dies loses the
   * lock when it runs out. (PostgreSQL ends an advisory lock with its holder's connection.) Default: 5 seconds.
   */
  readonly lockLease?: Duration.DurationInput | undefined
}

/**
 * The most keys one call of `keys` returns, and how many it returns when no `limit` is given.
 *
 * @since 0.4.0
 * @category constants
 */
export const maxKeysPerPage = 10_000

/**
 * The least string greater than every string that starts with `prefix`, in code point order (UTF-8 byte order): its
 * last code point below U+10FFFF incremented, what follows dropped. `undefined` when there is none (a prefix of
 * U+10FFFF only). Unlike `prefix || chr(1114111)`, it also bounds keys that go on with U+10FFFF after the prefix.
 */
const prefixEnd = (prefix: string): string | undefined => {
  const codePoints = Array.from(prefix, (char) => char.codePointAt(0)!)
  while (codePoints.length > 0) {
    const last = codePoints.pop()!
    if (last < 0x10ffff) {
      // the surrogates are not characters: no key holds one
      codePoints.push(last === 0xd7ff ? 0xe000 : last + 1)
      return String.fromCodePoint(...codePoints)
    }
  }
  return undefined
}

const poll = Schedule.spaced("25 millis")

/** A PostgreSQL lock taken: the connection in its open transaction, and the scope that gives it back. */
interface Held {
  readonly connection: SqlConnection.Connection
  readonly scope: Scope.CloseableScope
}

/**
 * SQLite creates its database file with the process's umask (0644, usually): anyone on the machine could read the
 * sessions. Reads the main database's file from `PRAGMA database_list`, and logs one warning when others may read it
 * (as the file store does). Says nothing off SQLite, for a database in memory, or where there is no `node:fs`.
 */
const warnIfReadable = (sql: SqlClient.SqlClient): Effect.Effect<void> =>
  sql<{ readonly name: string; readonly file: string }>`PRAGMA database_list`.pipe(
    Effect.map((rows) => rows.find((row) => row.name === "main")?.file ?? ""),
    Effect.flatMap((file) =>
      file === ""
        ? Effect.void
        : Effect.flatMap(
            Effect.tryPromise(async () => (await import("node:fs/promises")).stat(file)),
            (stat) =>
              (stat.mode & 0o077) === 0
                ? Effect.void
                : Effect.logWarning(
                    `SQLite database ${file} may be read by other users (mode 0${(stat.mode & 0o777).toString(8)}): ` +
                      `run chmod 600 ${file}`
                  )
          )
    ),
    Effect.ignore
  )

/** Says what failed without quoting any statement parameter: a driver's message may hold values. */
const describe = (error: SqlError.SqlError): string => {
  const cause = error.cause as { readonly code?: unknown; readonly message?: unknown } | undefined
  const code = typeof cause?.code === "string" ? ` (${cause.code})` : ""
  return `${error.message}${code}`
}

/**
 * Builds the store on the `SqlClient` in context and creates its table if it is missing (safe when several replicas
 * start at once).
 *
 * - Each row is keyed by the session key and holds, in `tokens`, the string the store's codec gives (the session's
 *   JSON, or its sealed envelope under `TokenStore.encrypted`) and a version number, which every write increments.
 *   Rows written by 0.3 (a `TokenSet`'s JSON, or a sealed `TokenSet`) are read as they are, and take the new form at
 *   their next write.
 * - `keys` reads an index in order, at most {@link maxKeysPerPage} keys per call: that is also the default `limit`,
 *   and a larger one is lowered to it (so a caller that takes a short page for the last one must not ask for more).
 *   The order is by code point (UTF-8 bytes), which is JavaScript's string order except between characters beyond
 *   the BMP (emoji, say) and those from U+E000 to U+FFFF. On PostgreSQL it is `COLLATE "C"` whatever the database's
 *   collation, on an index of its own (`<table>_key_c`, created with the table and added to a table of 0.3); on SQLite
 *   it is the `BINARY` collation of the primary key. A prefix is a range of that order, so `%` and `_` in it are
 *   characters like any other.
 * - **PostgreSQL:** `withLock(key)` holds a transaction-scoped advisory lock (`pg_try_advisory_xact_lock` on a hash of
 *   table and key, polled) in a transaction on a connection of its own, for as long as it runs; the reads and writes
 *   inside use that connection, and the transaction is committed whatever the outcome. The database releases the lock
 *   when the holder's connection dies, so another replica goes on at once.
 * - **SQLite:** at start, the store reads the database's file from `PRAGMA database_list` and logs one warning when
 *   others may read it (SQLite creates it with the umask, 0644 usually: create it 0600 first, see the README).
 * - **SQLite** (and other dialects): a lease row in `<table>_locks`, taken with an atomic upsert, renewed while it is
 *   held, and freed when its lease runs out if the holder died. Waiting is polling with `Effect.sleep`, so the event
 *   loop stays free (better-sqlite3 itself is synchronous).
 * - When the database cannot be reached, every call fails with `TokenStoreError`, and `withLock` never runs its effect
 *   without the lock.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<
  TokenStore.Service,
  TokenStore.TokenStoreError | ConfigError.ConfigError,
  SqlClient.SqlClient | Scope.Scope
> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const table = options?.table ?? "token_refresher_sessions"
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,50}$/.test(table)) {
      return yield* Effect.fail(
        ConfigError.InvalidData(["table"], "must be letters, digits and _, starting with a letter or _")
      )
    }
    const locks = `${table}_locks`
    const location = `sql table ${table}`
    const leaseMillis = Duration.toMillis(Duration.decode(options?.lockLease ?? "5 seconds"))
    const lockTimeout = Duration.decode(options?.lockTimeout ?? "30 seconds")
    const failure = (reason: TokenStore.TokenStoreError["reason"], doing: string) => (error: SqlError.SqlError) =>
      new TokenStore.TokenStoreError({ reason, location, detail: `${doing}: ${describe(error)}` })
    const dialect = sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "lease" as const })

    /** SQLite answers SQLITE_BUSY while another process writes: try again shortly, without blocking. */
    const retryBusy = <A, E extends SqlError.SqlError>(self: Effect.Effect<A, E>) =>
      Effect.retry(self, {
        while: (error) =>
          String((error.cause as { readonly code?: unknown } | undefined)?.code).startsWith("SQLITE_BUSY"),
        schedule: Schedule.intersect(poll, Schedule.recurs(400))
      })

    yield* (
      dialect === "pg"
        ? sql.withTransaction(
            Effect.all(
              [
                sql`SELECT pg_advisory_xact_lock(hashtext('token-refresher schema'))`,
                sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
                key TEXT PRIMARY KEY,
                tokens TEXT NOT NULL,
                version BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
              )`,
                // the primary key's order is the database's collation: `keys` pages in code point order on this one
                sql`CREATE INDEX IF NOT EXISTS ${sql(`${table}_key_c`)} ON ${sql(table)} (key COLLATE "C")`
              ],
              { discard: true }
            )
          )
        : retryBusy(
            Effect.zipRight(
              sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
                key TEXT PRIMARY KEY,
                tokens TEXT NOT NULL,
                version INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
              )`,
              sql`CREATE TABLE IF NOT EXISTS ${sql(locks)} (
                name TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                expires_at INTEGER NOT NULL
              )`
            )
          ).pipe(Effect.asVoid)
    ).pipe(Effect.mapError(failure("Write", "cannot create the table")))

    if (dialect === "lease") yield* warnIfReadable(sql)

    const get = (key: string) =>
      retryBusy(sql<{ readonly tokens: string }>`SELECT tokens FROM ${sql(table)} WHERE key = ${key}`).pipe(
        Effect.mapError(failure("Read", "cannot read the session")),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (row) => row.tokens))
      )

    /** The leases that could not be renewed while held: their holders must not write. */
    const lostLeases = new Set<string>()

    const set = (key: string, value: string) =>
      Effect.gen(function* () {
        if (lostLeases.has(key)) {
          return yield* new TokenStore.TokenStoreError({
            reason: "Lock",
            location,
            detail: "the lock's lease ran out while it was held; nothing was written"
          })
        }
        const now = yield* Clock.currentTimeMillis
        yield* retryBusy(
          sql`INSERT INTO ${sql(table)} (key, tokens, version, updated_at) VALUES (${key}, ${value}, 1, ${now})
            ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, version = ${sql(table)}.version + 1,
            updated_at = excluded.updated_at`
        ).pipe(Effect.mapError(failure("Write", "cannot write the session")))
      })

    const remove = (key: string) =>
      retryBusy(sql`DELETE FROM ${sql(table)} WHERE key = ${key}`).pipe(
        Effect.asVoid,
        Effect.mapError(failure("Write", "cannot remove the session"))
      )

    /** PostgreSQL compares in its database's collation unless told: `C` is code point order, as the index. */
    const ordered = dialect === "pg" ? sql.literal(`key COLLATE "C"`) : sql.literal("key")

    const keys = (
      options?: TokenStore.KeysOptions
    ): Effect.Effect<ReadonlyArray<string>, TokenStore.TokenStoreError> => {
      const prefix = options?.prefix ?? ""
      const after = options?.after
      const limit =
        options?.limit === undefined || Number.isNaN(options.limit)
          ? maxKeysPerPage
          : Math.min(maxKeysPerPage, Math.max(0, Math.floor(options.limit)))
      if (limit === 0) return Effect.succeed([])
      const end = prefixEnd(prefix)
      // a range on the index rather than LIKE, whose `%` and `_` in a key would be wildcards
      const where = sql.and([
        ...(prefix === "" ? [] : [sql`${ordered} >= ${prefix}`]),
        ...(prefix === "" || end === undefined ? [] : [sql`${ordered} < ${end}`]),
        ...(after === undefined ? [] : [sql`${ordered} > ${after}`])
      ])
      return retryBusy(
        sql<{ readonly key: string }>`SELECT key FROM ${sql(table)} WHERE ${where} ORDER BY ${ordered} LIMIT ${limit}`
      ).pipe(
        Effect.map((rows) => rows.map((row) => row.key)),
        Effect.mapError(failure("Read", "cannot list the sessions"))
      )
    }

    /**
     * Closes `scope` in a fiber of its own: its finalizers were added by other fibers, and a finalizer runs with the
     * FiberRefs of the fiber that added it, which must not be left behind in the caller.
     */
    const closeApart = (scope: Scope.CloseableScope) =>
      Effect.flatMap(Effect.forkDaemon(Scope.close(scope, Exit.void)), Fiber.await)

    /**
     * A connection of the pool for `scope`, given back when `scope` closes, waited for at most `within` milliseconds.
     * `@effect/sql-pg`'s `reserve` cannot be cancelled: a caller interrupted while it waits (by a timeout, say) would
     * leave the pool's callback to hand the connection to nobody, and the pool would lose it for good. So the
     * reservation runs in a fiber of its own that is never interrupted, and a caller that gives up closes `scope`: a
     * connection that comes later is given back at once (a closed scope runs a new finalizer at once).
     */
    const reserveIn = (scope: Scope.CloseableScope, within: number, onTimeout: () => TokenStore.TokenStoreError) =>
      Effect.flatMap(Effect.forkDaemon(Scope.extend(sql.reserve, scope)), (reserving) =>
        Fiber.join(reserving).pipe(
          Effect.mapError(failure("Lock", "cannot take the lock")),
          Effect.timeoutFail({ duration: Duration.millis(within), onTimeout }),
          Effect.onError(() => closeApart(scope))
        )
      )

    /**
     * PostgreSQL: takes the advisory lock `name` within `timeout`. Each try takes a connection, begins a transaction
     * and calls `pg_try_advisory_xact_lock`; taken, the connection stays in its transaction for the holder, else the
     * try rolls back and gives the connection back at once, so a waiter holds a connection only for the instant of a
     * try, never one that a holder or a plain read needs. Tries come soon at first, then every 200 ms, with jitter.
     *
     * To be called in an uninterruptible region, with its `restore`: everything runs uninterruptibly except the waits
     * (for a connection, between tries), so an interruption or the timeout can never drop a lock taken or a
     * connection reserved: the caller gets them, or they are given back.
     * The statements themselves each answer at once, and are not interrupted: interrupting a running query makes
     * `@effect/sql-pg` cancel it from another connection of the pool, which a full pool makes wait.
     */
    const acquireAdvisory = (
      key: string,
      name: string,
      timeout: Duration.Duration,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ): Effect.Effect<Held, TokenStore.TokenStoreError> =>
      Effect.flatMap(Clock.currentTimeMillis, (started) => {
        const deadline = started + Duration.toMillis(timeout)
        const timedOut = () =>
          new TokenStore.TokenStoreError({
            reason: "Lock",
            location,
            detail: `the refresh lock of session "${key}" was not free within ${Duration.format(lockTimeout)}`
          })
        const attempt = (tries: number): Effect.Effect<Held, TokenStore.TokenStoreError> =>
          Effect.gen(function* () {
            const scope = yield* Scope.make()
            const connection = yield* restore(reserveIn(scope, deadline - (yield* Clock.currentTimeMillis), timedOut))
            // the connection goes back to the pool out of any transaction
            const giveBack = Effect.zipRight(Effect.ignore(connection.executeRaw("ROLLBACK", [])), closeApart(scope))
            const rows = yield* Effect.zipRight(
              connection.executeRaw("BEGIN", []),
              connection.execute(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked",
                [name],
                undefined
              )
            ).pipe(
              Effect.onError(() => giveBack),
              Effect.mapError(failure("Lock", "cannot take the lock"))
            )
            if (rows[0]?.locked === true) return { connection, scope }
            yield* giveBack
            const left = deadline - (yield* Clock.currentTimeMillis)
            if (left <= 0) return yield* Effect.fail(timedOut())
            const jitter = yield* Random.nextRange(0.8, 1.2)
            yield* restore(Effect.sleep(Duration.millis(Math.min(left, Math.min(200, 25 * 2 ** tries) * jitter))))
            return yield* attempt(tries + 1)
          })
        return attempt(0)
      })

    /** Runs every statement of `connection` to its end: see {@link acquireAdvisory}. */
    const uninterruptibleStatements = (connection: SqlConnection.Connection): SqlConnection.Connection => ({
      execute: (sql, params, transformRows) => Effect.uninterruptible(connection.execute(sql, params, transformRows)),
      executeRaw: (sql, params) => Effect.uninterruptible(connection.executeRaw(sql, params)),
      executeStream: (sql, params, transformRows) => connection.executeStream(sql, params, transformRows),
      executeValues: (sql, params) => Effect.uninterruptible(connection.executeValues(sql, params)),
      executeUnprepared: (sql, params, transformRows) =>
        Effect.uninterruptible(connection.executeUnprepared(sql, params, transformRows))
    })

    /**
     * PostgreSQL: a transaction on a connection of its own holds `pg_try_advisory_xact_lock` (see
     * {@link acquireAdvisory}), and the work's own reads and writes run on that connection: a holder needs one
     * connection, so many sessions refreshing at once cannot exhaust the pool against each other. The transaction is
     * committed whatever the work's outcome, so a write it made is never rolled back, and the connection goes back to
     * the pool on every path: success, failure, interruption, timeout, or a connection lost.
     */
    const aroundAdvisory =
      (key: string, name: string, timeout: Duration.Duration) =>
      <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | TokenStore.TokenStoreError, R> =>
        Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            const { connection, scope } = yield* acquireAdvisory(key, name, timeout, restore)
            const result = yield* Effect.exit(
              restore(
                Effect.provideService(self, SqlClient.TransactionConnection, [
                  uninterruptibleStatements(connection),
                  1
                ] as const)
              )
            )
            const committed = yield* Effect.exit(connection.executeRaw("COMMIT", []))
            yield* closeApart(scope)
            if (Exit.isSuccess(result) && Exit.isFailure(committed)) {
              return yield* new TokenStore.TokenStoreError({
                reason: "Write",
                location,
                detail: "the session's changes could not be committed"
              })
            }
            return yield* result
          })
        )

    const acquireLease = (name: string): Effect.Effect<void, TokenStore.TokenStoreError, Scope.Scope> =>
      Effect.gen(function* () {
        const owner = globalThis.crypto.randomUUID()
        const tryOnce = Effect.flatMap(Clock.currentTimeMillis, (now) =>
          retryBusy(
            Effect.zipRight(
              sql`INSERT INTO ${sql(locks)} (name, owner, expires_at) VALUES (${name}, ${owner}, ${now + leaseMillis})
                ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE ${sql(locks)}.expires_at <= ${now}`,
              sql<{ readonly owner: string }>`SELECT owner FROM ${sql(locks)} WHERE name = ${name}`
            )
          )
        )
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(
            restore(Effect.repeat(tryOnce, { schedule: poll, until: (rows) => rows[0]?.owner === owner })),
            Effect.addFinalizer(() =>
              Effect.zipRight(
                Effect.sync(() => lostLeases.delete(name)),
                Effect.ignore(retryBusy(sql`DELETE FROM ${sql(locks)} WHERE name = ${name} AND owner = ${owner}`))
              )
            )
          )
        )
        lostLeases.delete(name)
        const renew = Effect.flatMap(Clock.currentTimeMillis, (now) =>
          retryBusy(
            Effect.zipRight(
              sql`UPDATE ${sql(locks)} SET expires_at = ${now + leaseMillis} WHERE name = ${name} AND owner = ${owner}`,
              sql<{ readonly owner: string }>`SELECT owner FROM ${sql(locks)} WHERE name = ${name}`
            )
          )
        ).pipe(
          Effect.tap((rows) => {
            if (rows[0]?.owner !== owner) lostLeases.add(name)
          }),
          Effect.ignore
        )
        yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(leaseMillis / 3)), renew)))
      }).pipe(Effect.mapError(failure("Lock", "cannot take the lock")))

    const backend: TokenStore.Backend = { location, get, set, remove, keys, lockTimeout }
    return yield* dialect === "pg"
      ? TokenStore.makeAround({
          ...backend,
          around: (name, timeout) => aroundAdvisory(name, `${table}:${name}`, timeout)
        })
      : TokenStore.make({ ...backend, acquire: acquireLease })
  })

/**
 * The store as a layer on the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<TokenStore.TokenStore, TokenStore.TokenStoreError | ConfigError.ConfigError, SqlClient.SqlClient> =>
  Layer.scoped(TokenStore.TokenStore, make(options))
