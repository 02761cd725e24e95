// Runs `doctor` the way src/Main.ts runs any command, for the process tests to use until Main
// wires `doctorCommand` into the built executable (then the tests use the executable instead).
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Layer } from "effect"
import { doctorCommand } from "../../../src/commands/DoctorCommand.ts"
import { PluginPathsLive } from "../../../src/services/PluginPaths.ts"

const root = Command.make("plexum-openai-provider-plugin").pipe(Command.withSubcommands([doctorCommand]))
Command.run(root, { name: "plexum-openai-provider-plugin", version: "test" })(process.argv).pipe(
  Effect.catchAll((error) =>
    Effect.zipRight(
      Console.error(`plexum-openai-provider-plugin: ${"message" in error ? error.message : String(error)}`),
      Effect.sync(() => {
        process.exitCode = 1
      })
    )
  ),
  Effect.provide(Layer.mergeAll(PluginPathsLive, NodeContext.layer)),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
