import { FileSystem, Path } from "@effect/platform"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenSet, TokenStore } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { ConfigProvider, DateTime, Effect, Fiber, Layer, Logger, LogLevel, Option, Redacted, Ref, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import { fixture, runScript } from "./child.js"

const NodeFs = Layer.merge(NodeFileSystem.layer, NodePath.layer)

const tokens = (access: string, refresh: string) =>
  TokenSet.make({
    accessToken: access,
    refreshToken: refresh,
    expiresAt: "2026-11-25T13:00:00.000Z",
    issuedAt: "2026-11-25T12:00:00.000Z",
    scope: ["user-read-private", "user-read-email"]
  })

const active = (access: string, refresh: string) => Session.active(tokens(access, refresh))

const values = (option: Option.Option<Session.Session>) =>
  Option.map(Option.flatMap(option, Session.tokens), (t) => ({
    access: Redacted.value(t.accessToken),
    refresh: Redacted.value(Option.getOrThrow(t.refreshToken)),
    tokenType: t.tokenType,
    expiresAt: DateTime.formatIso(t.expiresAt),
    scope: t.scope
  }))

const accessOf = (option: Option.Option<Session.Session>) =>
  Option.getOrUndefined(Option.map(Option.flatMap(option, Session.tokens), (t) => Redacted.value(t.accessToken)))

const tempFile = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "token-store-" })
  return { fs, path, dir, file: path.join(dir, "nested", "deeper", "spotify.json") }
})

const K = TokenStore.defaultKey

/** 32 bytes in base64, for the encrypted stores. */
const encryptionKey = Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

const store = (file: string) => NodeTokenStore.makeFile(file)

describe("NodeTokenStore.layerFile", () => {
  it.scoped("a missing file is None; a write creates the folders, and a new store reads the same tokens", () =>
    Effect.gen(function* () {
      const { file } = yield* tempFile
      const first = yield* store(file)
      assert.isTrue(Option.isNone(yield* first.get(K)))
      yield* first.set(K, active("access-1", "refresh-1"))
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

  it.scoped("the file is created with mode 0600 and holds each session's JSON as an object, keyed", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempFile
      const s = yield* store(file)
      yield* s.set(K, active("access-1", "refresh-1"))
      yield* s.set("bob", Session.seeded("seed-refresh", "2026-01-01T00:00:00.000Z"))
      const info = yield* fs.stat(file)
      assert.strictEqual(info.mode & 0o777, 0o600)
      const text = yield* fs.readFileString(file)
      assert.deepStrictEqual(JSON.parse(text), {
        default: {
          _tag: "Active",
          tokens: {
            accessToken: "access-1",
            refreshToken: "refresh-1",
            tokenType: "Bearer",
            expiresAt: "2026-11-25T13:00:00.000Z",
            scope: ["user-read-private", "user-read-email"],
            issuedAt: "2026-11-25T12:00:00.000Z"
          }
        },
        bob: { _tag: "Seeded", refreshToken: "seed-refresh", seededAt: "2026-01-01T00:00:00.000Z" }
      })
      // readable: two-space JSON, with a final newline
      assert.strictEqual(text, `${JSON.stringify(JSON.parse(text), null, 2)}\n`)
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
      for (let i = 0; i < 5; i++) yield* s.set(K, active(`access-${i}`, `refresh-${i}`))
      assert.deepStrictEqual(yield* fs.readDirectory(path.dirname(file)), ["spotify.json"])
      assert.strictEqual(accessOf(yield* s.get(K)), "access-4")
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
      const writeError = yield* Effect.flip(s.set(K, active("a", "r")))
      assert.deepStrictEqual([writeError.reason, writeError.detail], [readError.reason, readError.detail])
      // an encrypted store does not read the session before it writes: its write itself refuses
      const sealed = yield* store(file).pipe(TokenStore.withEncryption(encryptionKey), Effect.orDie)
      const sealedError = yield* Effect.flip(sealed.set(K, active("a", "r")))
      assert.deepStrictEqual(
        [sealedError.reason, sealedError.detail],
        [
          "Corrupt",
          "refusing to overwrite it: it is not JSON. Move it away or delete it, then log in again (token-refresher login)."
        ]
      )
      assert.strictEqual(yield* fs.readFileString(file), "{ this is not json")
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a file that is not a JSON object is Corrupt as a whole, and is never overwritten", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      yield* fs.makeDirectory(path.dirname(file), { recursive: true })
      for (const text of ['["SENTINEL-TOKEN"]', '"SENTINEL-TOKEN"', "null", "42"]) {
        yield* fs.writeFileString(file, text)
        const s = yield* store(file)
        const error = yield* Effect.flip(s.get(K))
        assert.deepStrictEqual(
          [error.reason, error.location, error.detail],
          [
            "Corrupt",
            file,
            "cannot read the tokens: it is not a saved token file (the top level is not an object). " +
              "Move it away or delete it, then log in again (token-refresher login)."
          ],
          text
        )
        assert.strictEqual((yield* Effect.flip(s.keys())).reason, "Corrupt")
        const writeError = yield* Effect.flip(s.set("alice", active("a", "r")))
        assert.deepStrictEqual([writeError.reason, writeError.detail], [error.reason, error.detail])
        assert.isFalse(JSON.stringify(error).includes("SENTINEL"))
        assert.strictEqual(yield* fs.readFileString(file), text)
      }
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped(
    "a foreign file that looks like a 0.1 TokenSet is the session default, Corrupt, and quotes none of its values",
    () =>
      Effect.gen(function* () {
        const { file, fs, path } = yield* tempFile
        yield* fs.makeDirectory(path.dirname(file), { recursive: true })
        yield* fs.writeFileString(file, JSON.stringify({ accessToken: "SENTINEL-TOKEN", expiresAt: "SENTINEL-DATE" }))
        const s = yield* store(file)
        assert.deepStrictEqual(yield* s.keys(), [K])
        const error = yield* Effect.flip(s.get(K))
        assert.deepStrictEqual(
          [error.reason, error.location, error.detail],
          ["Corrupt", file, `session "default" is not a stored session (its fields do not match)`]
        )
        assert.isFalse(error.message.includes("SENTINEL"))
        assert.isFalse(JSON.stringify(error).includes("SENTINEL"))
      }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a value that is not a session is Corrupt for its key alone: the others read, list and write", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      yield* fs.makeDirectory(path.dirname(file), { recursive: true })
      const good = Schema.encodeSync(Session.Session)(active("good-access", "good-refresh"))
      const foreign = {
        alice: good,
        number: 42,
        nothing: null,
        list: ["SENTINEL-1"],
        yes: true,
        text: "SENTINEL-2",
        jsonText: JSON.stringify(good),
        notJson: '{"SENTINEL-3"'
      }
      yield* fs.writeFileString(file, JSON.stringify(foreign))
      const s = yield* store(file)
      assert.deepStrictEqual(yield* s.keys(), [
        "alice",
        "jsonText",
        "list",
        "notJson",
        "nothing",
        "number",
        "text",
        "yes"
      ])
      assert.strictEqual(accessOf(yield* s.get("alice")), "good-access")
      // a session's JSON kept as a string (by a foreign tool) reads as well
      assert.strictEqual(accessOf(yield* s.get("jsonText")), "good-access")
      const details: Record<string, string> = {}
      for (const key of ["number", "nothing", "list", "yes", "text", "notJson"]) {
        const error = yield* Effect.flip(s.get(key))
        assert.strictEqual(error.reason, "Corrupt", key)
        assert.isFalse(JSON.stringify(error).includes("SENTINEL"), key)
        details[key] = error.detail
      }
      assert.deepStrictEqual(details, {
        number: `session "number" is not a stored session (not a JSON object)`,
        nothing: `session "nothing" is not a stored session (not a JSON object)`,
        list: `session "list" is not a stored session (not a JSON object)`,
        yes: `session "yes" is not a stored session (not a JSON object)`,
        text: `session "text" is not a stored session (not JSON)`,
        notJson: `session "notJson" is not a stored session (not JSON)`
      })
      // a write of another key keeps the foreign values as they were; a write of a corrupt key replaces it
      yield* s.set("bob", active("bob-access", "bob-refresh"))
      yield* s.set("number", active("number-access", "number-refresh"))
      const written = JSON.parse(yield* fs.readFileString(file))
      assert.deepStrictEqual(
        { ...written, bob: undefined, number: undefined },
        { ...foreign, bob: undefined, number: undefined }
      )
      assert.deepStrictEqual(
        written.number,
        Schema.encodeSync(Session.Session)(active("number-access", "number-refresh"))
      )
      assert.strictEqual(accessOf(yield* (yield* store(file)).get("number")), "number-access")
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a file that others may read is reported with a warning naming the fix", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempFile
      const s = yield* store(file)
      yield* s.set(K, active("a", "r"))
      yield* fs.chmod(file, 0o644)
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
      yield* s.get(K).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.deepStrictEqual(logs, [
        `WARN token file ${file} may be read by other users (mode 0644): run chmod 600 ${file}`
      ])
      assert.strictEqual((yield* NodeTokenStore.fileStatus(file)).tooOpen, true)
      // the next write replaces it with a 0600 file
      yield* s.set(K, active("b", "r"))
      assert.strictEqual((yield* fs.stat(file)).mode & 0o777, 0o600)
    }).pipe(Effect.provide(NodeFs), Logger.withMinimumLogLevel(LogLevel.All))
  )

  it.scoped("crash between write and rename: the previous tokens stay readable, and the leftover is cleaned up", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      yield* (yield* store(file)).set(K, active("old-access", "old-refresh"))

      // a file system whose rename never returns: the writer is frozen after the flushed write, before the rename
      const frozen = Layer.succeed(FileSystem.FileSystem, { ...fs, rename: () => Effect.never })
      const writer = yield* store(file).pipe(Effect.provide(frozen))
      const fiber = yield* Effect.fork(writer.set(K, active("new-access", "new-refresh")))
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
      assert.strictEqual(accessOf(yield* reader.get(K)), "old-access")

      // a torn temporary file from an earlier crash (its process, 4194305, is above any pid_max: gone) does not matter either
      yield* fs.writeFileString(path.join(folder, ".spotify.json.4194305.torn.tmp"), '{"accessToken":"torn')
      assert.strictEqual(accessOf(yield* reader.get(K)), "old-access")

      // the writer dies (which frees the file's lock); the next successful write removes the leftovers
      yield* Fiber.interrupt(fiber)
      yield* reader.set(K, active("next-access", "next-refresh"))
      assert.deepStrictEqual(yield* fs.readDirectory(folder), ["spotify.json"])
      assert.strictEqual(accessOf(yield* reader.get(K)), "next-access")
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
      yield* s.set(K, active("a", "r"))
      const folder = path.dirname(file)
      const live = `.spotify.json.${process.ppid}.inflight.tmp`
      const dead = ".spotify.json.4194305.dead.tmp"
      const old = `.spotify.json.${process.ppid}.old.tmp`
      for (const name of [live, dead, old]) yield* fs.writeFileString(path.join(folder, name), "{")
      const twoMinutesAgo = new Date(Date.now() - 120_000)
      yield* fs.utimes(path.join(folder, old), twoMinutesAgo, twoMinutesAgo)
      yield* s.set(K, active("b", "r"))
      assert.deepStrictEqual([...(yield* fs.readDirectory(folder))].sort(), [live, "spotify.json"].sort())
    }).pipe(Effect.provide(NodeFs))
  )

  it.scoped("a symlinked store is followed: the link stays a link and its target gets the tokens", () =>
    Effect.gen(function* () {
      const { dir, fs, path } = yield* tempFile
      const real = path.join(dir, "real.json")
      const link = path.join(dir, "link.json")
      yield* (yield* store(real)).set(K, active("first", "r"))
      yield* fs.symlink(real, link)
      const s = yield* store(link)
      assert.deepStrictEqual(Option.getOrUndefined(values(yield* s.get(K)))?.access, "first")
      yield* s.set(K, active("second", "r"))
      assert.strictEqual(yield* fs.readLink(link), real)
      assert.deepStrictEqual(Option.getOrUndefined(values(yield* (yield* store(real)).get(K)))?.access, "second")

      const dangling = path.join(dir, "dangling.json")
      yield* fs.symlink(path.join(dir, "missing.json"), dangling)
      const error = yield* Effect.flip((yield* store(dangling)).set(K, active("x", "r")))
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
      const { logs } = yield* logsOf(Effect.zipRight(s.set(K, active("a", "r")), s.set(K, active("b", "r"))))
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

  it("configFile: $XDG_CONFIG_HOME/token-refresher/<name>, else ~/.config/token-refresher/<name>", () => {
    const before = process.env.XDG_CONFIG_HOME
    const at = (xdg: string | undefined) => {
      if (xdg === undefined) delete process.env.XDG_CONFIG_HOME
      else process.env.XDG_CONFIG_HOME = xdg
      return NodeTokenStore.configFile("spotify.json")
    }
    try {
      const home = `${Os.homedir()}/.config/token-refresher/spotify.json`
      assert.deepStrictEqual(
        [at(undefined), at(""), at("relative/config"), at("/srv/config"), at("/srv/config//"), at("/")],
        [
          home,
          home,
          home,
          "/srv/config/token-refresher/spotify.json",
          "/srv/config/token-refresher/spotify.json",
          "/token-refresher/spotify.json"
        ]
      )
      process.env.XDG_CONFIG_HOME = "/srv/config"
      assert.strictEqual(NodeTokenStore.configFile("google.json"), "/srv/config/token-refresher/google.json")
    } finally {
      if (before === undefined) delete process.env.XDG_CONFIG_HOME
      else process.env.XDG_CONFIG_HOME = before
    }
  })
})

describe("NodeTokenStore: keys", () => {
  it.scoped("in code-unit order, a page at a time, under a prefix; a 0.1 file holds the key default", () =>
    Effect.gen(function* () {
      const { file, fs, path } = yield* tempFile
      const s = yield* store(file)
      assert.deepStrictEqual(yield* s.keys(), [])
      const keys = ["user:b", "user:a", "User:z", "user:é", "user:ab", "app", "user:", "usera", "user:\u{1F600}", "ü"]
      for (const key of keys) yield* s.set(key, active(key, "r"))
      // JS string order: by UTF-16 code unit, so "U" < "a" < "u" < "é" < "ü" < the surrogate of an emoji
      assert.deepStrictEqual(yield* s.keys(), [
        "User:z",
        "app",
        "user:",
        "user:a",
        "user:ab",
        "user:b",
        "user:é",
        "user:\u{1F600}",
        "usera",
        "ü"
      ])
      assert.deepStrictEqual(yield* s.keys({ prefix: "user:" }), [
        "user:",
        "user:a",
        "user:ab",
        "user:b",
        "user:é",
        "user:\u{1F600}"
      ])
      assert.deepStrictEqual(yield* s.keys({ prefix: "user:", after: "user:a", limit: 2 }), ["user:ab", "user:b"])
      assert.deepStrictEqual(yield* s.keys({ prefix: "user:", after: "user:b" }), ["user:é", "user:\u{1F600}"])
      assert.deepStrictEqual(yield* s.keys({ prefix: "user:", after: "a" }), yield* s.keys({ prefix: "user:" }))
      assert.deepStrictEqual(yield* s.keys({ prefix: "user:", after: "v" }), [])
      assert.deepStrictEqual(yield* s.keys({ after: "user:\u{1F600}" }), ["usera", "ü"])
      assert.deepStrictEqual(yield* s.keys({ limit: 0 }), [])
      assert.deepStrictEqual(yield* s.keys({ prefix: "nobody" }), [])
      // every page of 3, joined, is the whole listing
      const all: Array<string> = []
      let after: string | undefined = undefined
      for (;;) {
        const page: ReadonlyArray<string> = yield* s.keys({ limit: 3, after })
        all.push(...page)
        if (page.length < 3) break
        after = page[page.length - 1]
      }
      assert.deepStrictEqual(all, yield* s.keys())
      yield* s.remove("user:a")
      assert.deepStrictEqual(yield* s.keys({ prefix: "user:a" }), ["user:ab"])

      const single = path.join(path.dirname(file), "single.json")
      yield* fs.writeFileString(
        single,
        JSON.stringify({ accessToken: "a", tokenType: "Bearer", expiresAt: "2030-01-01T00:00:00.000Z", scope: [] })
      )
      assert.deepStrictEqual(yield* (yield* store(single)).keys(), [K])
    }).pipe(Effect.provide(NodeFs))
  )
})

describe("NodeTokenStore: the file is read again only when it changed (issue 21)", () => {
  const sessions = 10_000
  const keyOf = (i: number) => `user:${String(i).padStart(5, "0")}`

  /** The file system in context, with its `readFileString` calls counted. */
  const countingReads = Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const reads = yield* Ref.make(0)
    const layer = Layer.succeed(FileSystem.FileSystem, {
      ...fs,
      readFileString: (path, encoding) =>
        Effect.zipRight(
          Ref.update(reads, (n) => n + 1),
          fs.readFileString(path, encoding)
        )
    })
    return { reads, layer }
  })

  /** A file of 10,000 sessions, written at once (10,000 store writes would rewrite it 10,000 times). */
  const manySessions = Effect.gen(function* () {
    const { file, fs, path } = yield* tempFile
    yield* fs.makeDirectory(path.dirname(file), { recursive: true })
    const encode = Schema.encodeSync(Session.Session)
    const all: Record<string, unknown> = {}
    for (let i = 0; i < sessions; i++) all[keyOf(i)] = encode(active(`access-${keyOf(i)}`, `refresh-${keyOf(i)}`))
    yield* fs.writeFileString(file, JSON.stringify(all, null, 2), { mode: 0o600 })
    return { file, fs }
  })

  it.scoped(
    "over 10,000 sessions, gets and keys after the first read read nothing; a write keeps the file in memory",
    () =>
      Effect.gen(function* () {
        const { file } = yield* manySessions
        const { layer, reads } = yield* countingReads
        const s = yield* store(file).pipe(Effect.provide(layer))
        assert.strictEqual(accessOf(yield* s.get(keyOf(0))), `access-${keyOf(0)}`)
        assert.strictEqual(yield* Ref.get(reads), 1)
        for (let i = 1; i < sessions; i += 97)
          assert.strictEqual(accessOf(yield* s.get(keyOf(i))), `access-${keyOf(i)}`)
        assert.isTrue(Option.isNone(yield* s.get("nobody")))
        assert.strictEqual((yield* s.keys()).length, sessions)
        assert.deepStrictEqual(
          yield* s.keys({ prefix: "user:0999" }),
          Array.from({ length: 10 }, (_, i) => `user:0999${i}`)
        )
        assert.strictEqual(yield* Ref.get(reads), 1)
        // this instance's own writes do not make it read its file again
        yield* s.set(keyOf(42), active("rotated-42", "r"))
        yield* s.remove(keyOf(43))
        assert.strictEqual(accessOf(yield* s.get(keyOf(42))), "rotated-42")
        assert.isTrue(Option.isNone(yield* s.get(keyOf(43))))
        assert.strictEqual((yield* s.keys()).length, sessions - 1)
        assert.strictEqual(yield* Ref.get(reads), 1)
        // and what it wrote is in the file
        assert.strictEqual(accessOf(yield* (yield* store(file)).get(keyOf(42))), "rotated-42")
      }).pipe(Effect.provide(NodeFs))
  )

  it.scopedLive(
    "a write by another instance, another process or a foreign tool is seen at the next call",
    () =>
      Effect.gen(function* () {
        const { file, fs } = yield* manySessions
        const { layer, reads } = yield* countingReads
        const s = yield* store(file).pipe(Effect.provide(layer))
        assert.strictEqual(accessOf(yield* s.get(keyOf(7))), `access-${keyOf(7)}`)
        assert.strictEqual(yield* Ref.get(reads), 1)

        // another instance rotates a token: the same length, so the same file size
        const other = yield* store(file)
        yield* other.set(keyOf(7), active(`ACCESS-${keyOf(7)}`, `refresh-${keyOf(7)}`))
        assert.strictEqual(accessOf(yield* s.get(keyOf(7))), `ACCESS-${keyOf(7)}`)
        assert.strictEqual(yield* Ref.get(reads), 2)
        assert.strictEqual(accessOf(yield* s.get(keyOf(7))), `ACCESS-${keyOf(7)}`)
        assert.strictEqual(yield* Ref.get(reads), 2)

        // another process
        const child = yield* runScript(fixture("write-session.ts"), [file, keyOf(8), "from-another-process"])
        const result = yield* child.result
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(accessOf(yield* s.get(keyOf(8))), "from-another-process")
        assert.strictEqual(yield* Ref.get(reads), 3)
        assert.strictEqual((yield* s.keys()).length, sessions)
        assert.strictEqual(yield* Ref.get(reads), 3)

        // a foreign tool that rewrites the file in place (same inode), removing a session
        const all = JSON.parse(yield* fs.readFileString(file))
        delete all[keyOf(9)]
        yield* fs.writeFileString(file, JSON.stringify(all))
        assert.isTrue(Option.isNone(yield* s.get(keyOf(9))))
        assert.strictEqual((yield* s.keys()).length, sessions - 1)
        assert.strictEqual(yield* Ref.get(reads), 4)

        // a deleted file is empty, and a new one is read
        yield* fs.remove(file)
        assert.isTrue(Option.isNone(yield* s.get(keyOf(7))))
        yield* (yield* store(file)).set(keyOf(7), active("after-delete", "r"))
        assert.strictEqual(accessOf(yield* s.get(keyOf(7))), "after-delete")
        assert.deepStrictEqual(yield* s.keys(), [keyOf(7)])
        assert.strictEqual(yield* Ref.get(reads), 5)
      }).pipe(Effect.provide(NodeFs)),
    60_000
  )
})

describe("NodeTokenStore: the lock's owner (issue 21)", () => {
  it.scopedLive(
    "a lock without an owner (0.4's, another host's) is never taken while it is renewed, and taken once seen untouched for the lease",
    () =>
      Effect.gen(function* () {
        const { file } = yield* tempFile
        const s = yield* NodeTokenStore.makeFile(file, { lockLease: "2 seconds", lockTimeout: "3 seconds" })
        const lock = `${file}.lock`
        Fs.mkdirSync(lock, { recursive: true })
        // its holder renews it every half second, with any clock: the store only sees that it changes
        const renewing = yield* Effect.fork(
          Effect.forever(
            Effect.zipRight(
              Effect.sleep("500 millis"),
              Effect.sync(() => Fs.utimesSync(lock, new Date(0), new Date(Date.now() - 3_600_000 * Math.random())))
            )
          )
        )
        const refused = yield* Effect.flip(s.withLock(K)(Effect.void))
        assert.strictEqual(refused.reason, "Lock")
        const stopped = Date.now()
        yield* Fiber.interrupt(renewing)
        // the holder is gone: once the lock was seen untouched for the lease (2 s), it is taken; its last touch was
        // at most half a second before it stopped
        yield* s.withLock(K)(Effect.void)
        const took = Date.now() - stopped
        assert.isAtLeast(took, 1400)
        assert.isBelow(took, 3000)
        assert.isFalse(Fs.existsSync(lock))
      }).pipe(Effect.provide(NodeFs))
  )

  it.scopedLive("the lock names its holder, and is gone after release", () =>
    Effect.gen(function* () {
      const { file } = yield* tempFile
      const s = yield* store(file)
      const owner = yield* s.withLock(K)(
        Effect.sync(() => JSON.parse(Fs.readFileSync(`${file}.lock/owner.json`, "utf8")) as Record<string, unknown>)
      )
      assert.deepStrictEqual(
        { pid: owner.pid, host: owner.host, token: typeof owner.token },
        { pid: process.pid, host: Os.hostname(), token: "string" }
      )
      assert.isFalse(Fs.existsSync(`${file}.lock`))
    }).pipe(Effect.provide(NodeFs))
  )
})
