import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const bin = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../dist/bin.js")

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface Running {
  /** Resolves when `pattern` appears on stdout, with the match. */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<RegExpMatchArray>
  readonly result: Effect.Effect<Result>
  /** Ends it (SIGTERM) and waits for it to exit. */
  readonly stop: Effect.Effect<Result>
}

/** Starts the built CLI with exactly `env` (plus PATH); it is killed after `timeoutMs`, so nothing can hang a test. */
export const start = (args: ReadonlyArray<string>, env: Record<string, string>, timeoutMs = 15_000): Running => {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const listeners = new Set<() => void>()
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8")
    for (const listener of listeners) listener()
  })
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  const done = new Promise<Result>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(killer)
      for (const listener of listeners) listener()
      resolve({ code, stdout, stderr })
    })
  )
  return {
    waitFor: (pattern) =>
      Effect.async<RegExpMatchArray>((resume) => {
        const check = () => {
          const match = stdout.match(pattern)
          if (match !== null) {
            listeners.delete(check)
            resume(Effect.succeed(match))
          } else if (child.exitCode !== null) {
            listeners.delete(check)
            resume(Effect.dieMessage(`the CLI exited before printing ${pattern}: ${stdout}${stderr}`))
          }
        }
        listeners.add(check)
        check()
      }),
    result: Effect.promise(() => done),
    stop: Effect.suspend(() => {
      child.kill("SIGTERM")
      return Effect.promise(() => done)
    })
  }
}

export const run = (args: ReadonlyArray<string>, env: Record<string, string>) => start(args, env).result
