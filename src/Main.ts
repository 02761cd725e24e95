/**
 * The plugin executable: `serve` (default), `manifest`, `mcp-host`, `rollout`.
 * Layers are provided once here; each command lives in src/commands/.
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Layer, Logger } from "effect"
import { doctorCommand } from "./commands/DoctorCommand.ts"
import { manifestCommand } from "./commands/ManifestCommand.ts"
import { mcpHostCommand } from "./commands/McpHostCommand.ts"
import { rolloutCommand } from "./commands/RolloutCommand.ts"
import { serve, serveCommand } from "./commands/ServeCommand.ts"
import { MainLive } from "./layers/MainLive.ts"
import { EXECUTABLE_NAME, PLUGIN_VERSION } from "./schemas/Manifest.ts"

const root = Command.make(EXECUTABLE_NAME, {}, () => serve).pipe(
  Command.withDescription("Plexum provider plugin that runs agents on the OpenAI Codex CLI."),
  Command.withSubcommands([serveCommand, manifestCommand, mcpHostCommand, rolloutCommand, doctorCommand])
)

const cli = Command.run(root, { name: EXECUTABLE_NAME, version: PLUGIN_VERSION })

// Logs never touch stdout: in `serve` and `mcp-host` it carries the protocol.
const StderrLogger = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))

cli(process.argv).pipe(
  // A command's typed failure is a one-line message and exit status 1 (CLI usage errors print their own).
  Effect.catchAll((error) =>
    Effect.zipRight(
      ValidationError.isValidationError(error) ? Effect.void : Console.error(`${EXECUTABLE_NAME}: ${error.message}`),
      Effect.sync(() => {
        process.exitCode = 1
      })
    )
  ),
  Effect.provide(Layer.mergeAll(MainLive, NodeContext.layer, StderrLogger)),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
