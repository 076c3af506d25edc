/**
 * Every preset by name.
 *
 * @since 0.1.0
 */
import type { Provider } from "@token-refresher/core"
import * as Discord from "./Discord.js"
import * as Dropbox from "./Dropbox.js"
import * as GitHub from "./GitHub.js"
import * as Google from "./Google.js"
import * as Microsoft from "./Microsoft.js"
import * as Salesforce from "./Salesforce.js"
import * as Slack from "./Slack.js"
import * as Strava from "./Strava.js"
import * as Twitch from "./Twitch.js"

/**
 * The presets with their default options (Microsoft's `common` tenant, Salesforce's `login.salesforce.com`), by
 * `name`.
 *
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Provider.Provider> = [
  Discord.provider,
  Dropbox.provider,
  GitHub.provider,
  Google.provider,
  Microsoft.provider(),
  Salesforce.provider(),
  Slack.provider,
  Strava.provider,
  Twitch.provider
]

/**
 * The preset named `name` (case-insensitive), if any.
 *
 * @since 0.1.0
 * @category constructors
 */
export const byName = (name: string): Provider.Provider | undefined =>
  all.find((provider) => provider.name === name.toLowerCase())
