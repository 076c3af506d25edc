/**
 * Discord.
 *
 * Quirks, from https://discord.com/developers/docs/topics/oauth2:
 * - the token endpoint is `https://discord.com/api/oauth2/token`, and the examples authenticate with HTTP Basic;
 * - a refresh returns a new refresh token (rotation);
 * - revocation is RFC 7009 at `https://discord.com/api/oauth2/token/revoke`;
 * - errors are RFC 6749 errors (`invalid_grant` with 400).
 *
 * @since 0.1.0
 */
import { Provider } from "@token-refresher/core"
import * as Config from "effect/Config"
import { type CommonOptions, type PresetLayer, clientConfig, makeLayers } from "./internal/preset.js"

/**
 * The options of `Discord.layer` and `Discord.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {}

/**
 * The Discord provider.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider: Provider.Provider = Provider.make({
  name: "discord",
  tokenUrl: "https://discord.com/api/oauth2/token",
  authorizeUrl: "https://discord.com/oauth2/authorize",
  revocationUrl: "https://discord.com/api/oauth2/token/revoke",
  authMethod: "client_secret_basic",
  rotatesRefreshTokens: true
})

/**
 * `DISCORD_CLIENT_ID`, and `DISCORD_CLIENT_SECRET` when set.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all(clientConfig("DISCORD"))

const layers = makeLayers<Options>(() => provider, config)

/**
 * `TokenRefresher` for Discord. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for Discord, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
