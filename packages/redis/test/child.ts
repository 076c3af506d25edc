import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Child {
  readonly pid: number
  /** Succeeds when `pattern` appears on stdout; dies if the process exits first. */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<RegExpMatchArray>
  readonly result: Effect.Effect<Result>
  /** `SIGKILL`: the process cannot clean anything up. */
  readonly kill: Effect.Effect<Result>
}

/**
 * Runs a TypeScript file from this repository in a new Node process (through tsx, from source), killed when the scope
 * closes and after `timeoutMs` in any case, so nothing can hang a test.
 */
export const runScript = (
  script: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  timeoutMs = 60_000
) =>
  Effect.acquireRelease(
    Effect.sync((): Child => {
      const child = spawn(
        process.execPath,
        ["--conditions=@token-refresher/source", "--import", "tsx", script, ...args],
        { cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] }
      )
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
        child.on("close", (code, signal) => {
          clearTimeout(killer)
          for (const listener of listeners) listener()
          resolve({ code, signal, stdout, stderr })
        })
      )
      return {
        pid: child.pid!,
        waitFor: (pattern) =>
          Effect.async<RegExpMatchArray>((resume) => {
            const check = () => {
              const match = stdout.match(pattern)
              if (match !== null) {
                listeners.delete(check)
                resume(Effect.succeed(match))
              } else if (child.exitCode !== null || child.signalCode !== null) {
                listeners.delete(check)
                resume(Effect.dieMessage(`${script} exited before printing ${pattern}: ${stdout}${stderr}`))
              }
            }
            listeners.add(check)
            check()
          }),
        result: Effect.promise(() => done),
        kill: Effect.suspend(() => {
          child.kill("SIGKILL")
          return Effect.promise(() => done)
        })
      }
    }),
    (child) => Effect.ignore(child.kill)
  )

export const fixture = (name: string) => Path.join(root, "packages", "redis", "test", "fixtures", name)
