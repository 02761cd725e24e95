/** `manifest`: print the manifest JSON the plugin answers `initialize` with. */
import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import { makeManifest } from "../schemas/Manifest.ts"
import { loadConfig } from "../services/PluginConfig.ts"
import { PluginPaths } from "../services/PluginPaths.ts"

export const manifestCommand = Command.make("manifest", {}, () =>
  Effect.gen(function* () {
    const paths = yield* PluginPaths
    const { config } = yield* loadConfig(paths.configPath)
    yield* Console.log(JSON.stringify(makeManifest(config)))
  })
).pipe(Command.withDescription("Print the plugin manifest (models come from config.json)."))
