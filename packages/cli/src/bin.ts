#!/usr/bin/env node
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { command, CommandFailure } from "./internal/commands.js"
import { ExitCode, failureOf, report } from "./internal/errors.js"
import { version } from "./internal/version.js"

const cli = Command.run(command, { name: "token-refresher", version })

// help and messages are styled for a terminal: a pipe or a file gets them without colour codes. @effect/cli prints a
// subcommand's usage without the program's name ("$ login"): the usage line names it ("$ token-refresher login").
const ansi = /\u001b\[[0-9;]*m/g
const usage = /^((?:\u001b\[[0-9;]*m)*\$ )(login|token|refresh|status|logout|fake-server)(?= |$)/gm
for (const stream of [process.stdout, process.stderr]) {
  const plain = !stream.isTTY
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: Array<unknown>) => boolean
  stream.write = ((chunk: unknown, ...rest: Array<unknown>) => {
    if (typeof chunk !== "string") return write(chunk, ...rest)
    const named = chunk.replace(usage, "$1token-refresher $2")
    return write(plain ? named.replace(ansi, "") : named, ...rest)
  }) as typeof stream.write
}

/** The signal that stopped the program, for its exit code (128 + the signal's number, as shells report it). */
let stoppedBy: "SIGINT" | "SIGTERM" | undefined
process.once("SIGINT", () => (stoppedBy ??= "SIGINT"))
process.once("SIGTERM", () => (stoppedBy ??= "SIGTERM"))
const debugOn: Effect.Effect<boolean> = Effect.orElseSucceed(
  Config.boolean("TOKEN_REFRESHER_DEBUG").pipe(Config.withDefault(false)),
  () => false
)
const interruptedCode = () => (stoppedBy === "SIGTERM" ? 143 : 130)

const main = cli(process.argv).pipe(
  Effect.as(ExitCode.Ok as number),
  Effect.catchAllCause((cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.sync(interruptedCode)
    const failure = Option.getOrUndefined(failureOf(cause))
    const { code, line } =
      failure instanceof CommandFailure ? report(failure.error, failure.context) : report(failure, {})
    // @effect/cli has already printed its own message for a bad command line
    const print =
      code === ExitCode.Usage && line === "invalid command line"
        ? Effect.void
        : Console.error(`token-refresher: ${line}`)
    // TOKEN_REFRESHER_DEBUG=1 adds the whole cause, as Effect prints it
    const debug = Effect.flatMap(debugOn, (on) =>
      on
        ? Console.error(Cause.pretty(Cause.map(cause, (e) => (e instanceof CommandFailure ? e.error : e))))
        : Effect.void
    )
    return Effect.as(Effect.zipRight(print, debug), code)
  }),
  Effect.provide(NodeContext.layer),
  // stdout is the program's output (`$(token-refresher token)`): every log line goes to stderr
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true })))
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  // the pretty logger writes to stdout; ours (above) writes to stderr
  disablePrettyLogger: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit) && typeof exit.value === "number"
        ? exit.value
        : Exit.isInterrupted(exit)
          ? interruptedCode()
          : 1
    )
})
