/**
 * A `TokenStore` in a file: atomic writes, mode 0600, and a clear error for a file that is not ours.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { TokenSet, TokenStore } from "@token-refresher/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Os from "node:os"

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

const encodeJson = Schema.encode(Schema.parseJson(TokenSet.TokenSet, { space: 2 }))
const decodeJson = Schema.decodeEither(TokenSet.TokenSetFromJson, { errors: "all" })

/** Names what is wrong by path only: the parser's own messages would quote the file's values, which are tokens. */
const describeCorruption = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (issues.some((issue) => issue.path.length === 0 && issue._tag === "Transformation")) return "it is not JSON"
  const fields = [
    ...new Set(issues.map((issue) => (issue.path.length === 0 ? "the top level" : issue.path.map(String).join("."))))
  ]
  return `it is not a saved TokenSet (wrong or missing: ${fields.join(", ")})`
}

const modeBits = (mode: number): number => mode & 0o777

/**
 * The file store on the `FileSystem` in context. `file` may start with `~/`.
 *
 * - A missing file is `None`; parent folders are created on the first write (mode 0700).
 * - Writes go to a temporary file in the same folder, which is flushed and then renamed over the old file: a crash
 *   leaves the old file or the new one, never a torn one. Temporary files left by a crash are removed on the next write.
 * - The file is created with mode 0600; a file that others may read is reported with a warning on each read.
 * - A corrupt or foreign file is a `TokenStoreError` (reason `Corrupt`) naming the path, on read and on write: it is
 *   never overwritten silently.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFile = (file: string): Effect.Effect<TokenStore.Service, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const location = path.resolve(expandHome(file))
    const folder = path.dirname(location)
    const tempPrefix = `.${path.basename(location)}.`
    const lock = yield* Effect.makeSemaphore(1)

    const failure = (reason: "Read" | "Write" | "Corrupt", detail: string) =>
      new TokenStore.TokenStoreError({ reason, location, detail })

    const readText: Effect.Effect<Option.Option<string>, TokenStore.TokenStoreError> = fs.readFileString(location).pipe(
      Effect.map(Option.some),
      Effect.catchAll((error) =>
        error._tag === "SystemError" && error.reason === "NotFound"
          ? Effect.succeedNone
          : Effect.fail(failure("Read", `cannot read the file (${error.message})`))
      )
    )

    const decode = (text: string, doing: string) =>
      Effect.mapError(decodeJson(text), (error) =>
        failure(
          "Corrupt",
          `${doing}: ${describeCorruption(error)}. Move it away or delete it, then log in again (token-refresher login).`
        )
      )

    const reportMode = fs.stat(location).pipe(
      Effect.flatMap((info) => {
        const mode = modeBits(info.mode)
        return (mode & 0o077) === 0
          ? Effect.void
          : Effect.logWarning(
              `token file ${location} may be read by other users (mode 0${mode.toString(8)}): run chmod 600 ${location}`
            )
      }),
      Effect.ignore
    )

    const get = Effect.flatMap(readText, (text) =>
      Option.match(text, {
        onNone: () => Effect.succeedNone,
        onSome: (text) =>
          decode(text, "cannot read the tokens").pipe(Effect.map(Option.some), Effect.zipLeft(reportMode))
      })
    )

    const removeStaleTemporaries = fs.readDirectory(folder).pipe(
      Effect.flatMap((names) =>
        Effect.forEach(
          names.filter((name) => name.startsWith(tempPrefix) && name.endsWith(".tmp")),
          (name) => fs.remove(path.join(folder, name)),
          { discard: true }
        )
      ),
      Effect.ignore
    )

    const writeAtomically = (text: string) =>
      Effect.gen(function* () {
        const temporary = path.join(folder, `${tempPrefix}${process.pid}.${(yield* Random.nextInt).toString(16)}.tmp`)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const handle = yield* fs.open(temporary, { flag: "wx", mode: 0o600 })
            yield* handle.writeAll(new TextEncoder().encode(text))
            yield* handle.sync
          })
        ).pipe(
          Effect.zipRight(fs.rename(temporary, location)),
          Effect.onError(() => Effect.ignore(fs.remove(temporary)))
        )
        // make the rename itself durable
        yield* Effect.scoped(Effect.flatMap(fs.open(folder, { flag: "r" }), (dir) => dir.sync)).pipe(Effect.ignore)
      })

    const set = (tokens: TokenSet.TokenSet) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const existing = yield* readText
          if (Option.isSome(existing)) yield* decode(existing.value, "refusing to overwrite it")
          const text = yield* Effect.orDie(encodeJson(tokens))
          yield* fs
            .makeDirectory(folder, { recursive: true, mode: 0o700 })
            .pipe(Effect.zipRight(removeStaleTemporaries), Effect.zipRight(writeAtomically(`${text}\n`)))
            .pipe(Effect.mapError((error) => failure("Write", `cannot write the file (${error.message})`)))
        })
      )

    return TokenStore.TokenStore.of({ get, set })
  })

/**
 * The file store on Node's file system.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFile = (file: string): Layer.Layer<TokenStore.TokenStore> =>
  Layer.effect(TokenStore.TokenStore, makeFile(file)).pipe(
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

/**
 * The per-user token file the `token-refresher` CLI uses: `$XDG_CONFIG_HOME/token-refresher/spotify.json`, else
 * `~/.config/token-refresher/spotify.json`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPath: Effect.Effect<string> = Effect.map(
  Effect.orElseSucceed(Config.option(Config.nonEmptyString("XDG_CONFIG_HOME")), () => Option.none<string>()),
  (xdg) => `${Option.getOrElse(xdg, () => `${Os.homedir()}/.config`).replace(/\/+$/, "")}/token-refresher/spotify.json`
)

/**
 * The file store at {@link defaultPath} (where `token-refresher login` saves), seeded from `SPOTIFY_REFRESH_TOKEN`
 * when it is empty and that variable is set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSpotify = (): Layer.Layer<
  TokenStore.TokenStore,
  ConfigError.ConfigError | TokenStore.TokenStoreError
> =>
  Layer.unwrapEffect(
    Effect.map(defaultPath, (path) => layerFile(path).pipe(TokenStore.seeded(Config.redacted("SPOTIFY_REFRESH_TOKEN"))))
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
