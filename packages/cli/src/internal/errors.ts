import * as ValidationError from "@effect/cli/ValidationError"
import type { Errors, TokenStore } from "@token-refresher/core"
import type { FakeAuthorizationServer } from "@token-refresher/testing/node"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Match from "effect/Match"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/** A login that did not complete: no redirect in time, the user said no, or the server refused the code. */
export class LoginError extends Schema.TaggedError<LoginError>("@token-refresher/node/LoginError")("LoginError", {
  reason: Schema.Literal("Timeout", "Denied", "Listen", "MissingCode", "Unsupported", "CodeRejected"),
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

/** A keep-alive sweep in which the provider refused some sessions: their users must log in again (exit 3). */
export class SessionsRejected extends Schema.TaggedError<SessionsRejected>("@token-refresher/cli/SessionsRejected")(
  "SessionsRejected",
  { count: Schema.Number }
) {
  override get message(): string {
    return `${this.count} session${this.count === 1 ? " was" : "s were"} refused by the provider during the keep-alive: their users must log in again`
  }
}

/** The exit codes, one per kind of failure, so scripts can tell them apart. */
export const ExitCode = {
  Ok: 0,
  Unexpected: 1,
  Usage: 2,
  LoginRequired: 3,
  InvalidClient: 4,
  Network: 5,
  Server: 6,
  Store: 7,
  Login: 8,
  Listen: 9
} as const

export interface Report {
  readonly code: number
  readonly line: string
}

const configVariables: Record<string, string> = {
  SPOTIFY_CLIENT_ID: "your app's client id from the Spotify developer dashboard"
}

const describeConfigError = (error: ConfigError.ConfigError): string => {
  switch (error._op) {
    case "MissingData": {
      const name = error.path.join(".")
      const what = configVariables[name] ?? (name.endsWith("_CLIENT_ID") ? "your app's client id" : undefined)
      const flag = name.endsWith("_CLIENT_ID") ? "pass --client-id" : "pass the matching flag"
      return `${name} is not set: export ${name}=…${what === undefined ? "" : ` (${what})`}, or ${flag}`
    }
    case "InvalidData":
      // a flag's own message names it already ("--timeout must be …")
      return error.path[0]?.startsWith("--") === true
        ? error.message
        : `${error.path.join(".")} is invalid: ${error.message}`
    case "SourceUnavailable":
      return `${error.path.join(".")} could not be read: ${error.message}`
    case "Unsupported":
      return `${error.path.join(".")}: ${error.message}`
    case "And":
    case "Or":
      return describeConfigError(error.left)
  }
}

const seconds = (duration: Duration.Duration) => `${Math.ceil(Duration.toSeconds(duration))} s`

/** One line and an exit code for each failure; the context lets the advice name the file and the provider. */
export const report = (
  failure: unknown,
  context: {
    readonly storePath?: string | undefined
    readonly provider?: string | undefined
    readonly envPrefix?: string | undefined
  }
): Report => {
  const where = context.storePath === undefined ? "" : ` (${context.storePath})`
  const server = context.provider === undefined ? "the server" : capitalize(context.provider)
  const prefix = context.envPrefix ?? "SPOTIFY"
  const providerFlag =
    context.provider === undefined || context.provider === "spotify" ? "" : ` --provider ${context.provider}`
  const loginCommand = `\`token-refresher login${providerFlag}\``
  if (ConfigError.isConfigError(failure)) return { code: ExitCode.Usage, line: describeConfigError(failure) }
  if (ValidationError.isValidationError(failure)) return { code: ExitCode.Usage, line: "invalid command line" }
  if (!isCliError(failure)) {
    return {
      code: ExitCode.Unexpected,
      line: `unexpected error: ${failure instanceof Error ? failure.message : String(failure)}`
    }
  }
  const says = (description: string | undefined) =>
    description === undefined ? "" : ` (${server} says: ${description})`
  return Match.value(failure).pipe(
    Match.tagsExhaustive({
      InvalidGrant: (error): Report => ({
        code: ExitCode.LoginRequired,
        line:
          error.refreshTokenExpiredAt === undefined
            ? `the refresh token was revoked or has expired${says(error.description)}: run ${loginCommand} to log in again`
            : `the refresh token reached its end of life on ${DateTime.formatIso(error.refreshTokenExpiredAt)}${says(
                error.description
              )}: run ${loginCommand} to log in again`
      }),
      NoToken: (error): Report => ({
        code: ExitCode.LoginRequired,
        line:
          error.reason === "NoRefreshToken"
            ? `the access token has expired and there is no refresh token${where}: run ${loginCommand}`
            : `no tokens are stored${where}: run ${loginCommand}, or set ${prefix}_REFRESH_TOKEN to seed the store`
      }),
      InvalidClient: (error): Report => ({
        code: ExitCode.InvalidClient,
        line: `the client credentials were rejected${says(error.description)}: check ${prefix}_CLIENT_ID and ${prefix}_CLIENT_SECRET`
      }),
      NetworkError: (error): Report => ({
        code: ExitCode.Network,
        line: `${error.message} ${
          error.retryAfter === undefined
            ? "Check the connection and try again."
            : `Try again in ${seconds(error.retryAfter)}.`
        }`
      }),
      OAuthError: (error): Report => ({ code: ExitCode.Server, line: error.message }),
      DecodeError: (error): Report => ({ code: ExitCode.Server, line: error.message }),
      DiscoveryError: (error): Report => ({ code: ExitCode.Server, line: error.message }),
      RevocationUnsupported: (error): Report => ({ code: ExitCode.Server, line: error.message }),
      TokenStoreError: (error): Report => ({ code: ExitCode.Store, line: error.message }),
      LoginError: (error): Report => ({ code: ExitCode.Login, line: `login failed: ${error.message}` }),
      DeviceAuthorizationError: (error): Report =>
        error.reason === "Unsupported"
          ? {
              code: ExitCode.Usage,
              line: `${error.provider} has no device authorization endpoint: log in with ${loginCommand} instead (a browser and a loopback redirect)`
            }
          : { code: ExitCode.Login, line: `login failed: ${error.message}` },
      SessionsRejected: (error): Report => ({ code: ExitCode.LoginRequired, line: error.message }),
      ListenError: (error): Report => ({ code: ExitCode.Listen, line: error.message })
    })
  )
}

/** Every typed failure a command can end with: a new one breaks the build of `report` until it has an exit code. */
export type CliError =
  | Errors.RefreshError
  | Errors.NoToken
  | Errors.DiscoveryError
  | Errors.RevocationUnsupported
  | Errors.DeviceAuthorizationError
  | TokenStore.TokenStoreError
  | LoginError
  | SessionsRejected
  | FakeAuthorizationServer.ListenError

const cliErrorTags: ReadonlySet<string> = new Set<CliError["_tag"]>([
  "InvalidGrant",
  "InvalidClient",
  "OAuthError",
  "NetworkError",
  "DecodeError",
  "NoToken",
  "DiscoveryError",
  "RevocationUnsupported",
  "DeviceAuthorizationError",
  "TokenStoreError",
  "LoginError",
  "SessionsRejected",
  "ListenError"
])

const isCliError = (u: unknown): u is CliError =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" && cliErrorTags.has(u._tag)

const capitalize = (name: string) =>
  name === "github" ? "GitHub" : name.length === 0 ? name : `${name[0]!.toUpperCase()}${name.slice(1)}`

/** The failure a cause stands for: the first typed failure, else the first defect. */
export const failureOf = (cause: Cause.Cause<unknown>): Option.Option<unknown> =>
  Option.orElse(Cause.failureOption(cause), () => Cause.dieOption(cause))

/** Text from a redirect or a server, safe for a terminal: no control characters, at most 300 characters. */
export const sanitize = (text: string): string => {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]+/g, " ").trim()
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean
}
