/**
 * The manifest the plugin answers `initialize` with and `manifest` prints (PROTOCOL.md §2): its
 * name, version (package.json's), executable and the models it serves.
 */
import { Schema } from "effect"
import packageJson from "../../package.json" with { type: "json" }
import type { Config } from "./Config.ts"

/** The plugin's name: in its manifest and in its folder under the profile. */
export const PLUGIN_NAME = "plexum-openai-provider"

/** The package's version: `--version` and the manifest say what npm installed (bundled in at build time). */
export const PLUGIN_VERSION: string = packageJson.version
export const EXECUTABLE_NAME = "plexum-openai-provider-plugin"

export const Manifest = Schema.Struct({
  name: Schema.Literal(PLUGIN_NAME),
  version: Schema.String,
  activation: Schema.Literal("lazy"),
  executable: Schema.Literal(EXECUTABLE_NAME),
  contracts: Schema.Struct({ provider: Schema.Struct({ models: Schema.Array(Schema.String) }) })
})
export type Manifest = typeof Manifest.Type

export const makeManifest = (config: Config): Manifest => ({
  name: PLUGIN_NAME,
  version: PLUGIN_VERSION,
  activation: "lazy",
  executable: EXECUTABLE_NAME,
  contracts: { provider: { models: [...config.supported_models] } }
})
