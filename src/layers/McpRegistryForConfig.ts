/**
 * McpRegistry for the config in force: registrations name the config's codex binary and tool
 * timeout, which `initialize` may change while the plugin runs. One registry per distinct pair,
 * made on first use and kept (each holds its "already registered" cache), chosen per call from
 * the current config; no service is rebuilt by `initialize`.
 */
import { Effect, HashMap, Layer, Option, SynchronizedRef } from "effect"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import { pluginLauncher } from "../core/Launcher.ts"
import { McpRegistry, type McpRegistryShape } from "../services/McpRegistry.ts"
import { ActiveConfig } from "../services/PluginConfig.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { makeMcpRegistry } from "./McpRegistryLive.ts"

export const McpRegistryForConfig = Layer.effect(
  McpRegistry,
  Effect.gen(function* () {
    const activeConfig = yield* ActiveConfig
    const context = yield* Effect.context<PluginPaths | CommandExecutor.CommandExecutor>()
    const launcher = pluginLauncher()
    const registries = yield* SynchronizedRef.make(HashMap.empty<string, McpRegistryShape>())

    const current = Effect.gen(function* () {
      const config = yield* Effect.orDie(activeConfig.current)
      const key = JSON.stringify([config.binary, config.tool_timeout_sec])
      return yield* SynchronizedRef.modifyEffect(registries, (known) =>
        Option.match(HashMap.get(known, key), {
          onSome: (registry) => Effect.succeed([registry, known] as const),
          onNone: () =>
            Effect.map(
              makeMcpRegistry({ codexBinary: config.binary, launcher, toolTimeoutSec: config.tool_timeout_sec }).pipe(
                Effect.provide(context)
              ),
              (registry) => [registry, HashMap.set(known, key, registry)] as const
            )
        })
      )
    })
    // Names and paths depend only on the profile, not on the config.
    const fixed = yield* makeMcpRegistry({ codexBinary: "codex", launcher, toolTimeoutSec: 1 }).pipe(Effect.provide(context))

    return McpRegistry.of({
      serverName: fixed.serverName,
      socketPath: fixed.socketPath,
      ensureRegistered: (agentId) => Effect.flatMap(current, (registry) => registry.ensureRegistered(agentId))
    })
  })
)
