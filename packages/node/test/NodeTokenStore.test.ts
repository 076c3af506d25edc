import { FileSystem, Path } from "@effect/platform"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { TokenSet, TokenStore } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { ConfigProvider, DateTime, Effect, Fiber, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"

const NodeFs = Layer.merge(NodeFileSystem.layer, NodePath.layer)

const tokens = (access: string, refresh: string) =>
  new TokenSet.TokenSet({
    accessToken: Option.some(Redacted.make(access)),
    refreshToken: Option.some(Redacted.make(refresh)),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake("2026-11-25T13:00:00.000Z"),
    scope: ["user-read-private", "user-read-email"]
  })

const values = (option: Option.Option<TokenSet.TokenSet>) =>
  Option.map(option, (t) => ({
    access: Redacted.value(Option.getOrThrow(t.accessToken)),
    refresh: Redacted.value(Option.getOrThrow(t.refreshToken)),
    tokenType: t.tokenType,
    expiresAt: DateTime.formatIso(t.expiresAt),
    scope: t.scope
  }))

const tempFile = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "token-store-" })
  return { fs, path, dir, file: path.join(dir, "nested", "deeper", "spotify.json") }
})

const K = TokenStore.defaultKey

const store = (file: string) => NodeTokenStore.makeFile(file)

describe("NodeTokenStore.layerFile", () => {
  it.scoped("a missing file is None; a write creates the folders, and a new store reads the same tokens", () =>
    Effect.gen(function* () {
      const { file } = yield* tempFile
      const first = yield* store(file)
      assert.isTrue(Option.isNone(yield* first.get(K)))
      yield* first.set(K, tokens("access-1", "refresh-1"))
      const second = yield* Effect.provide(TokenStore.TokenStore, NodeTokenStore.layerFile(file))
      assert.deepStrictEqual(
        values(yield* second.get(K)),
        Option.some({
          access: "access-1",
          refresh: "refresh-1",
          tokenType: "Bearer",
          expiresAt: "2026-11-25T13:00:00.000Z",
          scope: ["user-read-private", "user-read-email"]
        })
      )
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("the file is created with mode 0600 and holds the encoded TokenSet as JSON", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempFile
      yield* (yield* store(file)).set(K, tokens("access-1", "refresh-1"))
      const info = yield* fs.stat(file)
      assert.strictEqual(info.mode & 0o777, 0o600)
      assert.deepStrictEqual(JSON.parse(yield* fs.readFileString(file)), {
        default: {
          accessToken: "access-1",
          refreshToken: "refresh-1",
          tokenType: "Bearer",
          expiresAt: "2026-11-25T13:00:00.000Z",
          scope: ["user-read-private", "user-read-email"]
        }
      })
      assert.deepStrictEqual(yield* NodeTokenStore.fileStatus(file), {
        path: file,
        exists: true,
        mode: 0o600,
        tooOpen: false
      })
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("no temporary files are left behind", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      const s = yield* store(file)
      for (let i = 0; i < 5; i++) yield* s.set(K, tokens(`access-${i}`, `refresh-${i}`))
      assert.deepStrictEqual(yield* fs.readDirectory(path.dirname(file)), ["spotify.json"])
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* s.get(K)).accessToken.pipe(Option.getOrThrow)),
        "access-4"
      )
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a corrupt file is a TokenStoreError naming the path, and is never overwritten", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      yield* fs.makeDirectory(path.dirname(file), { recursive: true })
      yield* fs.writeFileString(file, "{ this is not json")
      const s = yield* store(file)
      const readError = yield* Effect.flip(s.get(K))
      assert.strictEqual(readError.reason, "Corrupt")
      assert.strictEqual(readError.location, file)
      assert.strictEqual(
        readError.message,
        `Token store ${file}: cannot read the tokens: it is not JSON. ` +
          "Move it away or delete it, then log in again (token-refresher login)."
      )
      const writeError = yield* Effect.flip(s.set(K, tokens("a", "r")))
      assert.strictEqual(writeError.reason, "Corrupt")
      assert.match(writeError.message, /refusing to overwrite it/)
      assert.strictEqual(yield* fs.readFileString(file), "{ this is not json")
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a foreign JSON file is Corrupt, names the wrong fields, and quotes none of its values", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      yield* fs.makeDirectory(path.dirname(file), { recursive: true })
      yield* fs.writeFileString(file, JSON.stringify({ accessToken: "SENTINEL-TOKEN", expiresAt: "SENTINEL-DATE" }))
      const error = yield* Effect.flip((yield* store(file)).get(K))
      assert.strictEqual(error.reason, "Corrupt")
      assert.match(error.message, /wrong or missing: tokenType, expiresAt, scope\)/)
      assert.isFalse(error.message.includes("SENTINEL"))
      assert.isFalse(JSON.stringify(error).includes("SENTINEL"))
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a file that others may read is reported with a warning naming the fix", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempFile
      const s = yield* store(file)
      yield* s.set(K, tokens("a", "r"))
      yield* fs.chmod(file, 0o644)
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
      yield* s.get(K).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.deepStrictEqual(logs, [
        `WARN token file ${file} may be read by other users (mode 0644): run chmod 600 ${file}`
      ])
      assert.strictEqual((yield* NodeTokenStore.fileStatus(file)).tooOpen, true)
      // the next write replaces it with a 0600 file
      yield* s.set(K, tokens("b", "r"))
      assert.strictEqual((yield* fs.stat(file)).mode & 0o777, 0o600)
    }).pipe(Effect.provide(NodeFs), Logger.withMinimumLogLevel(LogLevel.All))
  )

  it.scoped("crash between write and rename: the previous tokens stay readable, and the leftover is cleaned up", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      yield* (yield* store(file)).set(K, tokens("old-access", "old-refresh"))

      // a file system whose rename never returns: the writer is frozen after the flushed write, before the rename
      const frozen = Layer.succeed(FileSystem.FileSystem, { ...fs, rename: () => Effect.never })
      const writer = yield* store(file).pipe(Effect.provide(frozen))
      const fiber = yield* Effect.fork(writer.set(K, tokens("new-access", "new-refresh")))
      const folder = path.dirname(file)
      const temporaries = fs
        .readDirectory(folder)
        .pipe(Effect.map((names) => names.filter((name) => name.endsWith(".tmp"))))
      const [temporary] = yield* temporaries.pipe(
        Effect.repeat({ until: (names) => names.length === 1, times: 1000 }),
        Effect.zipLeft(Effect.yieldNow())
      )
      assert.isDefined(temporary)
      assert.match(temporary!, /^\.spotify\.json\.\d+\.[0-9a-f-]+\.tmp$/)
      assert.strictEqual((yield* fs.stat(path.join(folder, temporary!))).mode & 0o777, 0o600)

      // what any reader (another process, or this one after a restart) sees at this moment
      const reader = yield* store(file)
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* reader.get(K)).accessToken.pipe(Option.getOrThrow)),
        "old-access"
      )

      // a torn temporary file from an earlier crash (its process, 4194305, is above any pid_max: gone) does not matter either
      yield* fs.writeFileString(path.join(folder, ".spotify.json.4194305.torn.tmp"), '{"accessToken":"torn')
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* reader.get(K)).accessToken.pipe(Option.getOrThrow)),
        "old-access"
      )

      // the writer dies (which frees the file's lock); the next successful write removes the leftovers
      yield* Fiber.interrupt(fiber)
      yield* reader.set(K, tokens("next-access", "next-refresh"))
      assert.deepStrictEqual(yield* fs.readDirectory(folder), ["spotify.json"])
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* reader.get(K)).accessToken.pipe(Option.getOrThrow)),
        "next-access"
      )
    }).pipe(Effect.provide(NodeFs))
  )
})

describe("NodeTokenStore: a hostile disk", () => {
  const logsOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
      const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      return { logs, result }
    })

  it.scoped("a write removes only stale temporaries: another live process's write in flight is left alone", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      const s = yield* store(file)
      yield* s.set(K, tokens("a", "r"))
      const folder = path.dirname(file)
      const live = `.spotify.json.${process.ppid}.inflight.tmp`
      const dead = ".spotify.json.4194305.dead.tmp"
      const old = `.spotify.json.${process.ppid}.old.tmp`
      for (const name of [live, dead, old]) yield* fs.writeFileString(path.join(folder, name), "{")
      const twoMinutesAgo = new Date(Date.now() - 120_000)
      yield* fs.utimes(path.join(folder, old), twoMinutesAgo, twoMinutesAgo)
      yield* s.set(K, tokens("b", "r"))
      assert.deepStrictEqual([...(yield* fs.readDirectory(folder))].sort(), [live, "spotify.json"].sort())
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a symlinked store is followed: the link stays a link and its target gets the tokens", () =>
    Effect.gen(function* () {
      const { dir, fs, path } = yield* tempFile
      const real = path.join(dir, "real.json")
      const link = path.join(dir, "link.json")
      yield* (yield* store(real)).set(K, tokens("first", "r"))
      yield* fs.symlink(real, link)
      const s = yield* store(link)
      assert.deepStrictEqual(Option.getOrUndefined(values(yield* s.get(K)))?.access, "first")
      yield* s.set(K, tokens("second", "r"))
      assert.strictEqual(yield* fs.readLink(link), real)
      assert.deepStrictEqual(Option.getOrUndefined(values(yield* (yield* store(real)).get(K)))?.access, "second")

      const dangling = path.join(dir, "dangling.json")
      yield* fs.symlink(path.join(dir, "missing.json"), dangling)
      const error = yield* Effect.flip((yield* store(dangling)).set(K, tokens("x", "r")))
      assert.deepStrictEqual(
        [error.reason, error.detail],
        ["Write", "it is a symlink to a missing file: point it at an existing file, or remove it"]
      )
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a FIFO or a device is refused unread (no hang), and so is a file over maxFileBytes", () =>
    Effect.gen(function* () {
      const { dir, fs, path } = yield* tempFile
      const fifo = path.join(dir, "fifo.json")
      ChildProcess.execFileSync("mkfifo", [fifo])
      const notFile = yield* Effect.flip((yield* store(fifo)).get(K))
      assert.deepStrictEqual(
        [notFile.reason, notFile.detail],
        ["Read", "it is not a regular file (a FIFO): refusing to read it"]
      )
      const zero = yield* Effect.flip((yield* store("/dev/zero")).get(K))
      assert.deepStrictEqual(
        [zero.reason, zero.detail],
        ["Read", "it is not a regular file (a CharacterDevice): refusing to read it"]
      )
      const big = path.join(dir, "big.json")
      yield* fs.writeFileString(big, `{"pad":"${"x".repeat(5000)}"}`)
      const tooBig = yield* Effect.flip(
        Effect.flatMap(NodeTokenStore.makeFile(big, { maxFileBytes: 4096 }), (s) => s.get(K))
      )
      assert.deepStrictEqual(
        [tooBig.reason, tooBig.detail],
        ["Read", "it is larger than 4096 bytes (maxFileBytes): refusing to read it"]
      )
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a folder that other users may write to is reported once, naming the fix", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      const folder = path.dirname(file)
      yield* fs.makeDirectory(folder, { recursive: true })
      yield* fs.chmod(folder, 0o777)
      const s = yield* store(file)
      const { logs } = yield* logsOf(Effect.zipRight(s.set(K, tokens("a", "r")), s.set(K, tokens("b", "r"))))
      assert.deepStrictEqual(logs, [
        `WARN token folder ${folder} may be written by other users (mode 0777), who could replace the token file: run chmod 700 ${folder}`
      ])
    }).pipe(Effect.provide(NodeFs), Logger.withMinimumLogLevel(LogLevel.All))
  )

  it.effect("a relative XDG_CONFIG_HOME is ignored, as the XDG spec says", () =>
    Effect.gen(function* () {
      const relative = yield* NodeTokenStore.defaultPath.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["XDG_CONFIG_HOME", "relative/config"]])))
      )
      assert.strictEqual(relative, `${Os.homedir()}/.config/token-refresher/spotify.json`)
      const absolute = yield* NodeTokenStore.defaultPath.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["XDG_CONFIG_HOME", "/srv/config/"]])))
      )
      assert.strictEqual(absolute, "/srv/config/token-refresher/spotify.json")
    })
  )
})
