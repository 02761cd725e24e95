/**
 * The plugin executable: `serve` (default), `manifest`, `mcp-host`, `rollout`, `doctor`.
 * Each command lives in src/commands/; the layer it runs on is chosen here and provided once
 * (src/layers/MainLive.ts).
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Layer, Logger } from "effect"
import { doctorCommand } from "./commands/DoctorCommand.ts"
import { manifestCommand } from "./commands/ManifestCommand.ts"
import { mcpHostCommand } from "./commands/McpHostCommand.ts"
import { makeRolloutCommand } from "./commands/RolloutCommand.ts"
import { serveCommand, serveProtocol } from "./commands/ServeCommand.ts"
import { DoctorLive, MainLive, RolloutToolsLive, ServeLive } from "./layers/MainLive.ts"
import { EXECUTABLE_NAME, PLUGIN_VERSION } from "./schemas/Manifest.ts"

/**
 * When `serve` returns, stdin has ended and everything the plugin owns is closed (ServeLive
 * released): exit 0 even if a stray handle lingers.
 */
const exitWhenServed = <E, R>(served: Effect.Effect<void, E, R>) => Effect.zipRight(served, Effect.sync(() => process.exit(0)))

const root = Command.make(EXECUTABLE_NAME, {}, () => exitWhenServed(Effect.provide(serveProtocol, ServeLive))).pipe(
  Command.withDescription("Plexum provider plugin that runs agents on the OpenAI Codex CLI."),
  Command.withSubcommands([
    serveCommand.pipe(Command.provide(ServeLive), Command.transformHandler(exitWhenServed)),
    manifestCommand,
    mcpHostCommand,
    makeRolloutCommand(RolloutToolsLive),
    doctorCommand.pipe(Command.provide(DoctorLive))
  ])
)

const cli = Command.run(root, { name: EXECUTABLE_NAME, version: PLUGIN_VERSION })

// @effect/cli colours `--help` and usage errors wherever they go. A pipe, NO_COLOR
// (https://no-color.org) or TERM=dumb gets plain text: colour codes are taken out of everything
// printed through Console. (JSON never holds a raw ESC, so protocol output is untouched.)
const SGR = /\u001b\[[0-9;]*m/g
const wantsColour = (stream: NodeJS.WriteStream) =>
  stream.isTTY === true && (process.env.NO_COLOR ?? "") === "" && process.env.TERM !== "dumb"
const plain = (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? a.replace(SGR, "") : a))
const plainWhenPiped = (base: Console.Console): Console.Console => ({
  ...base,
  log: (...args) => base.log(...(wantsColour(process.stdout) ? args : plain(args))),
  info: (...args) => base.info(...(wantsColour(process.stdout) ? args : plain(args))),
  error: (...args) => base.error(...(wantsColour(process.stderr) ? args : plain(args))),
  warn: (...args) => base.warn(...(wantsColour(process.stderr) ? args : plain(args)))
})

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
  (self) => Effect.flatMap(Effect.console, (base) => Effect.withConsole(self, plainWhenPiped(base))),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
