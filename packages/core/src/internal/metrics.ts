import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/** How a refresh ended: `adopted` when another process had refreshed meanwhile and nothing was sent. */
export type Outcome = "ok" | "adopted" | "invalid_grant" | "network" | "decode" | "oauth" | "client" | "store"

/** The refreshes, by `outcome` and `provider`. */
export const refreshes = Metric.counter("token_refresher_refreshes_total", {
  description: "Token refreshes, by outcome",
  incremental: true
})

/** The time of the token request of a refresh (retries included), by `provider`. */
export const refreshDuration = Metric.histogram(
  "token_refresher_refresh_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 14 }),
  "The time of a refresh's token request, retries included, in seconds"
)

/** The wait for a session's refresh lock, by `provider`. */
export const lockWait = Metric.histogram(
  "token_refresher_lock_wait_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 }),
  "The wait for a session's refresh lock, in seconds"
)

/** The sessions a `TokenSessions` holds in memory. */
export const sessionsLive = Metric.gauge("token_refresher_sessions_live", {
  description: "The sessions held in memory by TokenSessions"
})

export const outcomeOf = (error: { readonly _tag: string }): Outcome | undefined => {
  switch (error._tag) {
    case "InvalidGrant":
      return "invalid_grant"
    case "NetworkError":
      return "network"
    case "DecodeError":
      return "decode"
    case "OAuthError":
      return "oauth"
    case "InvalidClient":
      return "client"
    case "TokenStoreError":
      return "store"
    default:
      return undefined
  }
}
