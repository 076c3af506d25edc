/**
 * A `TokenStore` in a file: many sessions, a refresh lock shared by the processes of one host, atomic writes, mode
 * 0600, and a clear error for a file that is not ours.
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { TokenStore } from "@token-refresher/core"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Os from "node:os"
import * as FileLock from "./internal/fileLock.js"

/**
 * What is known about a token file, without reading any token.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileStatus {
  /** The absolute path. */
  readonly path: string
  readonly exists: boolean
  /** The permission bits (e.g. `0o600`), when the file exists. */
  readonly mode: number | undefined
  /** Whether users other than the owner may read or write it. */
  readonly tooOpen: boolean
}

/** `~/x` is the home folder's `x`, as a shell would read it. */
const expandHome = (file: string): string =>
  file === "~" ? Os.homedir() : file.startsWith("~/") ? `${Os.homedir()}${file.slice(1)}` : file

const isRecord = (json: unknown): json is Record<string, unknown> =>
  typeof json === "object" && json !== null && !Array.isArray(json)

/** How the encryption envelope starts: a sealed session is kept as a JSON string. */
const envelopePrefix = "token-refresher:"

/**
 * Whether the file is one bare `TokenSet`, as 0.1 wrote it: its `accessToken` is a string at the top level (where the
 * keyed file holds sessions, which are objects, or sealed sessions, which are envelopes).
 */
const isSingleTokenSet = (json: Record<string, unknown>): boolean =>
  typeof json.accessToken === "string" && !json.accessToken.startsWith(envelopePrefix)

/**
 * The value kept in the file for a stored string: JSON object text is embedded as that object, so the file stays
 * readable; any other string (an encryption envelope) is kept as a JSON string.
 */
const embed = (value: string): unknown => {
  if (!value.trimStart().startsWith("{")) return value
  try {
    const json: unknown = JSON.parse(value)
    return isRecord(json) ? json : value
  } catch {
    return value
  }
}

/** The string handed to the codec for a value of the file: an object (or a stray number, array…) as its JSON text. */
const textOf = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value))

/** The first index of `sorted` whose key is not below `key` (`strictly`: above it). */
const bound = (sorted: ReadonlyArray<string>, key: string, strictly: boolean): number => {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (sorted[middle]! < key || (strictly && sorted[middle] === key)) low = middle + 1
    else high = middle
  }
  return low
}

/**
 * The sessions of one version of the file: the values as parsed, their text for the codec and the sorted keys
 * computed when first asked for.
 */
class Contents {
  private readonly texts = new Map<string, string>()
  private sorted: ReadonlyArray<string> | undefined
  constructor(readonly values: ReadonlyMap<string, unknown>) {}

  get(key: string): Option.Option<string> {
    const text = this.texts.get(key)
    if (text !== undefined) return Option.some(text)
    if (!this.values.has(key)) return Option.none()
    const made = textOf(this.values.get(key))
    this.texts.set(key, made)
    return Option.some(made)
  }

  /** A page of keys in code-unit order: those under `prefix` form one run of the sorted keys, found by bisection. */
  keys(options: TokenStore.KeysOptions | undefined): ReadonlyArray<string> {
    if (this.sorted === undefined) this.sorted = [...this.values.keys()].sort()
    const sorted = this.sorted
    const prefix = options?.prefix ?? ""
    const limit = options?.limit ?? Number.POSITIVE_INFINITY
    let index = bound(sorted, prefix, false)
    if (options?.after !== undefined) index = Math.max(index, bound(sorted, options.after, true))
    const page: Array<string> = []
    for (; index < sorted.length && page.length < limit && sorted[index]!.startsWith(prefix); index++) {
      page.push(sorted[index]!)
    }
    return page
  }

  /** The whole file's text: 2-space JSON, as people read it, with a final newline. */
  render(): string {
    return `${JSON.stringify(Object.fromEntries(this.values), null, 2)}\n`
  }
}

const empty = new Contents(new Map())

/**
 * The sessions in a file's text. A file of 0.1 (one encoded `TokenSet`) is read as the session
 * `TokenStore.defaultKey`; the next write rewrites it in the keyed format. Only the shape of the whole file is checked
 * here: a value that is not a session is the codec's to refuse, for its key alone.
 */
const parseContents = (text: string): Either.Either<Contents, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return Either.left("it is not JSON")
  }
  if (!isRecord(json)) return Either.left("it is not a saved token file (the top level is not an object)")
  return Either.right(
    new Contents(isSingleTokenSet(json) ? new Map([[TokenStore.defaultKey, json]]) : new Map(Object.entries(json)))
  )
}

const modeBits = (mode: number): number => mode & 0o777

/**
 * Which version of the file a `stat` saw: its identity (device and inode: every write renames a new file into
 * place), size and modification time. `undefined` where the platform gives no inode or time, so nothing is cached.
 */
interface Version {
  readonly dev: number
  readonly ino: number
  readonly size: number
  readonly mtime: number
}

const versionOf = (info: FileSystem.File.Info): Version | undefined =>
  Option.isSome(info.ino) && Option.isSome(info.mtime)
    ? { dev: info.dev, ino: info.ino.value, size: Number(info.size), mtime: info.mtime.value.getTime() }
    : undefined

const sameVersion = (a: Version, b: Version): boolean =>
  a.ino === b.ino && a.mtime === b.mtime && a.size === b.size && a.dev === b.dev

/**
 * The options of the file store.
 *
 * @since 0.2.0
 * @category models
 */
export interface FileOptions {
  /** How long `withLock` waits for the file's lock before failing with `TokenStoreError` (`Lock`). Default: 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /**
   * The lock's lease, for a holder that cannot be checked: a holder renews its lock every second while it works. A
   * holder on this host is checked by its pid and start time instead: alive, it keeps the lock whatever the clocks
   * say; gone (even by `SIGKILL`), it loses it at once. A holder on another host sharing the folder loses the lock
   * when it was not renewed for this long. At least 2 seconds. Default: 5 seconds.
   */
  readonly lockLease?: Duration.DurationInput | undefined
  /** The largest file read: a bigger one (a 500 MB file, `/dev/zero`) is refused unread. Default: 16 MiB. */
  readonly maxFileBytes?: number | undefined
}

/** A temporary file this old is stale whatever its process: no write takes a minute. */
const staleTemporaryMillis = 60_000

/**
 * The file store on the `FileSystem` in context. `file` may start with `~/`.
 *
 * - The file holds every session, as a JSON object of session key to stored session: the session's JSON as an object
 *   (so the file stays readable), or, when the store is encrypted (`TokenStore.encrypted`), its envelope as a string.
 *   A file written by 0.1 (one `TokenSet`) is read as the session `TokenStore.defaultKey`, and files of 0.2 and 0.3
 *   (sessions as encoded `TokenSet`s) as they were; the next write rewrites what it writes in the current format.
 * - The parsed file is kept in memory and re-read only when its `stat` shows another version (another inode, size or
 *   modification time): a read costs one `stat`, and another process's write is seen at the next call.
 * - The refresh lock is the whole file, not one key (`withLock(key)` excludes every other key too): a lock directory
 *   `<file>.lock` beside it, made atomically, that names its holder (pid, host, process start time). A holder alive
 *   on this host keeps the lock whatever the clocks say; one that is gone (even by `SIGKILL`) loses it at the next
 *   try of another process. A lock whose holder cannot be checked (another host sharing the folder) is taken over
 *   when it was not renewed (every second) for `lockLease` (default 5 s).
 * - A missing file is `None`; parent folders are created on the first write (mode 0700).
 * - Writes go to a temporary file in the same folder, which is flushed and then renamed over the old file: a crash
 *   leaves the old file or the new one, never a torn one. Temporary files left by a crash (their process is gone, or
 *   they are older than a minute) are removed on a later write; another process's write in flight is left alone.
 * - A symlink is followed: reads and writes go to its target. Only a regular file of at most `maxFileBytes` is read.
 * - A folder that other users may write to is reported with a warning (once).
 * - The file is created with mode 0600; a file that others may read is reported with a warning (once per mode seen).
 * - A file that is not a JSON object is a `TokenStoreError` (reason `Corrupt`) naming the path, on read and on write:
 *   it is never overwritten silently. A value that is not a session is `Corrupt` for its key only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFile = (
  file: string,
  options?: FileOptions
): Effect.Effect<TokenStore.Service, never, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const location = path.resolve(expandHome(file))
    const folder = path.dirname(location)
    const lockPath = `${location}.lock`
    const tempPrefix = `.${path.basename(location)}.`
    const leaseMillis = Math.max(2000, Duration.toMillis(Duration.decode(options?.lockLease ?? "5 seconds")))
    const maxFileBytes = options?.maxFileBytes ?? 16 * 1024 * 1024
    let warnedMode: number | undefined
    let warnedFolder = false
    /** The file as last read or written by this instance, and which version of it that was. */
    let cached: { readonly version: Version; readonly contents: Contents } | undefined

    const failure = (reason: "Read" | "Write" | "Corrupt" | "Lock", detail: string) =>
      new TokenStore.TokenStoreError({ reason, location, detail })

    const reportMode = (mode: number) => {
      if ((mode & 0o077) === 0 || warnedMode === mode) return Effect.void
      warnedMode = mode
      return Effect.logWarning(
        `token file ${location} may be read by other users (mode 0${mode.toString(8)}): run chmod 600 ${location}`
      )
    }

    /**
     * The sessions in the file, from memory while the file's version is the one read last. Only a regular file of at
     * most `maxFileBytes` is read: a FIFO would block forever, and `/dev/zero` or a huge file would fill the memory. A
     * symlink is followed (reads and writes go to its target). `doing` opens the message of a corrupt file.
     */
    const load = (doing: string): Effect.Effect<Contents, TokenStore.TokenStoreError> =>
      fs.stat(location).pipe(
        Effect.flatMap((info): Effect.Effect<Contents, TokenStore.TokenStoreError | PlatformError> => {
          if (info.type !== "File") {
            return Effect.fail(failure("Read", `it is not a regular file (a ${info.type}): refusing to read it`))
          }
          if (Number(info.size) > maxFileBytes) {
            return Effect.fail(
              failure("Read", `it is larger than ${maxFileBytes} bytes (maxFileBytes): refusing to read it`)
            )
          }
          const version = versionOf(info)
          const known = cached
          if (version !== undefined && known !== undefined && sameVersion(version, known.version)) {
            return Effect.as(reportMode(modeBits(info.mode)), known.contents)
          }
          return Effect.flatMap(fs.readFileString(location), (text) =>
            Either.match(parseContents(text), {
              onLeft: (detail) =>
                Effect.fail(
                  failure(
                    "Corrupt",
                    `${doing}: ${detail}. Move it away or delete it, then log in again (token-refresher login).`
                  )
                ),
              onRight: (contents) => {
                // a read that raced a write may cache the newer text under the older version: the next stat re-reads
                cached = version === undefined ? undefined : { version, contents }
                return Effect.as(reportMode(modeBits(info.mode)), contents)
              }
            })
          )
        }),
        Effect.catchAll((error) =>
          error._tag === "TokenStoreError"
            ? Effect.fail(error)
            : error._tag === "SystemError" && error.reason === "NotFound"
              ? Effect.sync(() => {
                  cached = undefined
                  return empty
                })
              : Effect.fail(failure("Read", `cannot read the file (${error.message})`))
        )
      )

    /**
     * Temporary files left by a crash: those whose process is gone, or older than a minute. Another process's write in
     * flight is left alone (its rename would fail otherwise).
     */
    const removeStaleTemporaries = (into: string) =>
      fs.readDirectory(into).pipe(
        Effect.flatMap((names) =>
          Effect.forEach(
            names.filter((name) => name.startsWith(tempPrefix) && name.endsWith(".tmp")),
            (name) => {
              const pid = Number(name.slice(tempPrefix.length).split(".")[0])
              const file = path.join(into, name)
              return Effect.flatMap(fs.stat(file), (info) => {
                const age = Date.now() - Option.getOrElse(info.mtime, () => new Date(0)).getTime()
                const orphan = !Number.isSafeInteger(pid) || pid <= 0 || (pid !== process.pid && !FileLock.alive(pid))
                return orphan || age > staleTemporaryMillis ? fs.remove(file) : Effect.void
              }).pipe(Effect.ignore)
            },
            { discard: true }
          )
        ),
        Effect.ignore
      )

    /** A folder others may write to lets them replace the token file: said once. */
    const reportFolder = (dir: string) =>
      warnedFolder
        ? Effect.void
        : fs.stat(dir).pipe(
            Effect.flatMap((info) => {
              const mode = modeBits(info.mode)
              if ((mode & 0o022) === 0) return Effect.void
              warnedFolder = true
              return Effect.logWarning(
                `token folder ${dir} may be written by other users (mode 0${mode.toString(8)}), who could replace the token file: run chmod 700 ${dir}`
              )
            }),
            Effect.ignore
          )

    /**
     * Where writes go: the file itself, or the target of a symlink (followed, so the link stays a link). A link to a
     * missing file is refused.
     */
    const writeTarget: Effect.Effect<string, TokenStore.TokenStoreError> = fs.readLink(location).pipe(
      Effect.matchEffect({
        onFailure: () => Effect.succeed(location),
        onSuccess: () =>
          fs
            .realPath(location)
            .pipe(
              Effect.mapError(() =>
                failure("Write", "it is a symlink to a missing file: point it at an existing file, or remove it")
              )
            )
      })
    )

    /** Writes `text` over `target`; its version is the temporary file's (a rename keeps the inode and the times). */
    const writeAtomically = (text: string, target: string) =>
      Effect.gen(function* () {
        const into = path.dirname(target)
        const temporary = path.join(into, `${tempPrefix}${process.pid}.${(yield* Random.nextInt).toString(16)}.tmp`)
        const info = yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* fs.open(temporary, { flag: "wx", mode: 0o600 })
            yield* handle.writeAll(new TextEncoder().encode(text))
            yield* handle.sync
            return yield* handle.stat
          })
        ).pipe(
          Effect.zipLeft(fs.rename(temporary, target)),
          Effect.onError(() => Effect.ignore(fs.remove(temporary)))
        )
        // make the rename itself durable
        yield* Effect.scoped(Effect.flatMap(fs.open(into, { flag: "r" }), (dir) => dir.sync)).pipe(Effect.ignore)
        return versionOf(info)
      })

    /** Read, change and write the whole file; runs with the file's lock held. */
    const update = (change: (values: Map<string, unknown>) => void) =>
      Effect.gen(function* () {
        const lost = lock.lost()
        if (lost !== undefined) return yield* failure("Lock", lost)
        const values = new Map((yield* load("refusing to overwrite it")).values)
        change(values)
        const contents = new Contents(values)
        yield* fs
          .makeDirectory(folder, { recursive: true, mode: 0o700 })
          .pipe(Effect.mapError((error) => failure("Write", `cannot write the file (${error.message})`)))
        const target = yield* writeTarget
        yield* reportFolder(path.dirname(target))
        const version = yield* removeStaleTemporaries(path.dirname(target)).pipe(
          Effect.zipRight(writeAtomically(contents.render(), target)),
          Effect.mapError((error) => failure("Write", `cannot write the file (${error.message})`))
        )
        cached = version === undefined ? undefined : { version, contents }
      })

    const lock = yield* FileLock.make(lockPath, { leaseMillis, renewMillis: Math.min(1000, leaseMillis / 2) })

    const acquire = (_name: string): Effect.Effect<void, TokenStore.TokenStoreError, Scope.Scope> =>
      fs.makeDirectory(folder, { recursive: true, mode: 0o700 }).pipe(
        Effect.mapError((error) => failure("Lock", `cannot create the folder for the lock (${error.message})`)),
        Effect.zipRight(
          // polled with sleeps, so the event loop stays free while another process holds the lock
          lock.tryTake.pipe(
            Effect.repeat({ schedule: Schedule.spaced("25 millis"), until: (taken) => taken }),
            Effect.mapError((error) => failure("Lock", `cannot take the file's lock ${lockPath} (${error.message})`))
          )
        ),
        Effect.asVoid
      )

    const reading = "cannot read the tokens"

    return yield* TokenStore.make({
      location,
      get: (key) => Effect.map(load(reading), (contents) => contents.get(key)),
      set: (key, value) => update((values) => void values.set(key, embed(value))),
      remove: (key) => update((values) => void values.delete(key)),
      keys: (keysOptions) => Effect.map(load(reading), (contents) => contents.keys(keysOptions)),
      acquire,
      lockName: () => location,
      lockTimeout: options?.lockTimeout
    })
  })

/**
 * The file store on Node's file system.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFile = (file: string, options?: FileOptions): Layer.Layer<TokenStore.TokenStore> =>
  Layer.scoped(TokenStore.TokenStore, makeFile(file, options)).pipe(
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

/**
 * The folder of the per-user config files: `$XDG_CONFIG_HOME/token-refresher`, else `~/.config/token-refresher`. A
 * relative `$XDG_CONFIG_HOME` is invalid by the XDG Base Directory spec and is ignored.
 */
const configFolder = (xdgConfigHome: string | undefined): string => {
  const base = xdgConfigHome !== undefined && xdgConfigHome.startsWith("/") ? xdgConfigHome : `${Os.homedir()}/.config`
  return `${base.replace(/\/+$/, "")}/token-refresher`
}

/**
 * The path of the per-user file `name` (e.g. `"spotify.json"`) in the folder where the `token-refresher` CLI keeps
 * its tokens: `$XDG_CONFIG_HOME/token-refresher/<name>`, else `~/.config/token-refresher/<name>`. `XDG_CONFIG_HOME`
 * is read from the environment at the call; a relative or empty one is ignored, as the XDG Base Directory spec says.
 *
 * @example
 * ```ts
 * import { NodeTokenStore } from "@token-refresher/node"
 *
 * // the file `token-refresher login` writes for Spotify
 * const Store = NodeTokenStore.layerFile(NodeTokenStore.configFile("spotify.json"))
 * ```
 *
 * @since 0.4.0
 * @category constructors
 */
export const configFile = (name: string): string => `${configFolder(process.env.XDG_CONFIG_HOME)}/${name}`

/**
 * The per-user token file the `token-refresher` CLI uses for Spotify, with `XDG_CONFIG_HOME` read through `Config`:
 * `$XDG_CONFIG_HOME/token-refresher/spotify.json`, else `~/.config/token-refresher/spotify.json` (as
 * {@link configFile}).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPath: Effect.Effect<string> = Effect.map(
  Effect.orElseSucceed(Config.option(Config.nonEmptyString("XDG_CONFIG_HOME")), () => Option.none<string>()),
  (xdg) => `${configFolder(Option.getOrUndefined(xdg))}/spotify.json`
)

/**
 * Where the file is and whether its permissions are tight, without reading the tokens (for status displays).
 *
 * @since 0.1.0
 * @category accessors
 */
export const fileStatus = (file: string): Effect.Effect<FileStatus> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const location = path.resolve(expandHome(file))
    const info = yield* Effect.option(fs.stat(location))
    return Option.match(info, {
      onNone: (): FileStatus => ({ path: location, exists: false, mode: undefined, tooOpen: false }),
      onSome: (info): FileStatus => ({
        path: location,
        exists: true,
        mode: modeBits(info.mode),
        tooOpen: (info.mode & 0o077) !== 0
      })
    })
  }).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))
