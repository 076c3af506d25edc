import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"

/**
 * A lock shared by the processes of one host: a directory, made atomically by `mkdir`, that holds `owner.json` (the
 * holder's pid, host, process start time and a random token). Its holder touches the directory every `renewMillis`.
 *
 * Whether a lock is stale is decided by its owner first, by the clock only when the owner cannot say:
 * - a holder on this host that is alive (same pid, same start time) keeps its lock, whatever the clocks say (a process
 *   whose clock jumped ahead must not take over a live holder's lock);
 * - a holder on this host that is gone loses it at once;
 * - a lock whose owner is unknown (another host on a shared file system, a lock made by 0.4 without an owner, or one
 *   whose holder died between `mkdir` and writing its owner) is stale when this process has seen it untouched (same
 *   inode, same modification time) for `leaseMillis` on its monotonic clock: no wall clock is compared with another.
 *
 * A stale lock is taken over by renaming it aside (atomic), checking that the one renamed is the one judged stale
 * (same inode), and removing it; a fresh one renamed by mistake (another process took over first) is put back.
 */
export interface FileLock {
  /** One try: `true` when taken (released when the scope closes), `false` when another holder has it. */
  readonly tryTake: Effect.Effect<boolean, Error, Scope.Scope>
  /** Why the lock held now was lost, if it was (then its holder must not write). */
  readonly lost: () => string | undefined
}

interface Owner {
  readonly pid: number
  readonly host: string
  readonly started: string | null
  readonly token: string
}

/** The start time of process `pid` in clock ticks since boot (`/proc/<pid>/stat`, field 22), or null off Linux. */
const startTime = async (pid: number | "self"): Promise<string | null> => {
  try {
    const stat = await Fs.readFile(`/proc/${pid}/stat`, "utf8")
    // the command name (field 2) is in parentheses and may hold spaces: count from the last `)`
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null
  } catch {
    return null
  }
}

/** Whether the process `pid` is alive on this host (a signal 0 probe: `EPERM` means it exists). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { readonly code?: unknown }).code === "EPERM"
  }
}

const readOwner = async (lockPath: string): Promise<Owner | undefined> => {
  try {
    const owner = JSON.parse(await Fs.readFile(`${lockPath}/owner.json`, "utf8")) as Partial<Owner>
    return typeof owner.pid === "number" && typeof owner.host === "string" && typeof owner.token === "string"
      ? { pid: owner.pid, host: owner.host, started: owner.started ?? null, token: owner.token }
      : undefined
  } catch {
    return undefined
  }
}

const code = (error: unknown) => (error as { readonly code?: unknown } | undefined)?.code

export const make = (lockPath: string, options: { readonly leaseMillis: number; readonly renewMillis: number }) =>
  Effect.promise(() => startTime("self")).pipe(
    Effect.map((ownStart): FileLock => {
      const host = Os.hostname()
      let lostReason: string | undefined

      /**
       * A lock whose owner cannot be checked, as this process saw it first: its inode and modification time, and when
       * (on the monotonic clock) it was first seen so. Neither clock jumps nor another host's clock move it.
       */
      let unchecked: { readonly ino: number; readonly mtimeMs: number; readonly since: number } | undefined

      /** Whether the lock seen now is stale, and the inode it was judged on. */
      const judge = async (): Promise<{ readonly stale: boolean; readonly ino: number } | undefined> => {
        let stat
        try {
          stat = await Fs.stat(lockPath)
        } catch (error) {
          if (code(error) === "ENOENT") return undefined
          throw error
        }
        const owner = await readOwner(lockPath)
        if (owner !== undefined && owner.host === host) {
          const running =
            alive(owner.pid) &&
            (owner.started === null || ownStart === null || (await startTime(owner.pid)) === owner.started)
          return { stale: !running, ino: stat.ino }
        }
        // no owner to check: stale once it has not been renewed (touched) for the lease, as this process measures it
        const now = performance.now()
        if (unchecked === undefined || unchecked.ino !== stat.ino || unchecked.mtimeMs !== stat.mtimeMs) {
          unchecked = { ino: stat.ino, mtimeMs: stat.mtimeMs, since: now }
          return { stale: false, ino: stat.ino }
        }
        return { stale: now - unchecked.since >= options.leaseMillis, ino: stat.ino }
      }

      /** Takes over a lock judged stale on inode `ino`; false when another process got there first. */
      const takeOver = async (ino: number): Promise<void> => {
        const aside = `${lockPath}.stale-${process.pid}-${globalThis.crypto.randomUUID()}`
        try {
          await Fs.rename(lockPath, aside)
        } catch (error) {
          if (code(error) === "ENOENT") return
          throw error
        }
        const renamed = await Fs.stat(aside)
        if (renamed.ino !== ino) {
          // another process took the stale lock over first and this one renamed its fresh lock: put it back
          await Fs.rename(aside, lockPath).catch(() => Fs.rm(aside, { recursive: true, force: true }))
          return
        }
        await Fs.rm(aside, { recursive: true, force: true })
      }

      const take = async (): Promise<string | undefined> => {
        try {
          await Fs.mkdir(lockPath, { mode: 0o700 })
        } catch (error) {
          if (code(error) !== "EEXIST") throw error
          const seen = await judge()
          if (seen === undefined || !seen.stale) return undefined
          await takeOver(seen.ino)
          return undefined
        }
        const token = globalThis.crypto.randomUUID()
        const owner: Owner = { pid: process.pid, host, started: ownStart, token }
        await Fs.writeFile(`${lockPath}/owner.json`, JSON.stringify(owner), { mode: 0o600 })
        return token
      }

      const ours = async (token: string) => (await readOwner(lockPath))?.token === token

      const renew = (token: string) =>
        Effect.promise(async () => {
          try {
            if (!(await ours(token))) {
              lostReason = "the file's lock was taken over by another process while held"
              return
            }
            const now = new Date()
            await Fs.utimes(lockPath, now, now)
          } catch (error) {
            lostReason = `the file's lock could not be renewed (${error instanceof Error ? error.message : String(error)})`
          }
        })

      const release = (token: string) =>
        Effect.promise(async () => {
          try {
            if (!(await ours(token))) return
            // the owner first: from then on, another process judges the empty lock by its age, and it is gone soon
            await Fs.unlink(`${lockPath}/owner.json`)
            await Fs.rmdir(lockPath)
          } catch {
            // a lock that cannot be removed is taken over by its owner's death: this process is alive, so it is
            // stale once this process exits, or by its lease for another host
          }
        })

      return {
        lost: () => lostReason,
        tryTake: Effect.uninterruptible(
          Effect.flatMap(
            Effect.tryPromise({
              try: take,
              catch: (error) => (error instanceof Error ? error : new Error(String(error)))
            }),
            (token) =>
              token === undefined
                ? Effect.succeed(false)
                : Effect.zipRight(
                    Effect.sync(() => {
                      lostReason = undefined
                    }),
                    Effect.zipRight(
                      Effect.addFinalizer(() => release(token)),
                      Effect.as(
                        // forked from an uninterruptible region: the renewal must be interruptible itself
                        Effect.forkScoped(
                          Effect.interruptible(
                            Effect.forever(
                              Effect.zipRight(Effect.sleep(Duration.millis(options.renewMillis)), renew(token))
                            )
                          )
                        ),
                        true
                      )
                    )
                  )
          )
        )
      }
    })
  )
