import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/** A login that did not complete: no redirect in time, a foreign `state`, or the user said no. */
export class LoginError extends Schema.TaggedError<LoginError>("@token-refresher/node/LoginError")("LoginError", {
  reason: Schema.Literal("Timeout", "StateMismatch", "Denied", "Listen", "MissingCode"),
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
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
      const what = configVariables[name]
      return `${name} is not set: export ${name}=…${what === undefined ? "" : ` (${what})`}, or pass the matching flag`
    }
    case "InvalidData":
      return `${error.path.join(".")} is invalid: ${error.message}`
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

/** One line and an exit code for each failure; `storePath` lets the advice name the file. */
export const report = (failure: unknown, storePath: string | undefined): Report => {
  const where = storePath === undefined ? "" : ` (${storePath})`
  if (ConfigError.isConfigError(failure)) return { code: ExitCode.Usage, line: describeConfigError(failure) }
  if (ValidationError.isValidationError(failure)) return { code: ExitCode.Usage, line: "invalid command line" }
  const tagged = failure as { readonly _tag?: string; readonly message?: string } & Record<string, unknown>
  switch (tagged._tag) {
    case "InvalidGrant":
      return {
        code: ExitCode.LoginRequired,
        line: `the refresh token was revoked or has expired${
          tagged.description === undefined ? "" : ` (Spotify says: ${String(tagged.description)})`
        }: run \`token-refresher login\` to log in again`
      }
    case "NoToken":
      return {
        code: ExitCode.LoginRequired,
        line: `no tokens are stored${where}: run \`token-refresher login\`, or set SPOTIFY_REFRESH_TOKEN to seed the store`
      }
    case "InvalidClient":
      return {
        code: ExitCode.InvalidClient,
        line: `the client credentials were rejected${
          tagged.description === undefined ? "" : ` (Spotify says: ${String(tagged.description)})`
        }: check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET`
      }
    case "NetworkError": {
      const retryAfter = tagged.retryAfter as Duration.Duration | undefined
      return {
        code: ExitCode.Network,
        line: `${tagged.message} ${
          retryAfter === undefined ? "Check the connection and try again." : `Try again in ${seconds(retryAfter)}.`
        }`
      }
    }
    case "OAuthError":
    case "DecodeError":
      return { code: ExitCode.Server, line: String(tagged.message) }
    case "TokenStoreError":
      return { code: ExitCode.Store, line: String(tagged.message) }
    case "LoginError":
      return { code: ExitCode.Login, line: `login failed: ${String(tagged.message)}` }
    case "ListenError":
      return { code: ExitCode.Listen, line: String(tagged.message) }
    default:
      return {
        code: ExitCode.Unexpected,
        line: `unexpected error: ${failure instanceof Error ? failure.message : String(failure)}`
      }
  }
}

/** The failure a cause stands for: the first typed failure, else the first defect. */
export const failureOf = (cause: Cause.Cause<unknown>): Option.Option<unknown> =>
  Option.orElse(Cause.failureOption(cause), () => Cause.dieOption(cause))
