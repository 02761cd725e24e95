/**
 * The protocol's method table (PROTOCOL.md §2): what each host request does.
 * `initialize` gates everything else; turns and mutations are delegated to
 * the services that own them.
 */
import { Effect, Option, Ref } from "effect"
import { method, RpcFailure, type RpcRouter } from "../core/RpcRouter.ts"
import { ErrorCode } from "../schemas/JsonRpc.ts"
import { makeManifest } from "../schemas/Manifest.ts"
import { InitializeParams, PROTOCOL_VERSION } from "../schemas/Protocol.ts"
import type { Config } from "../schemas/Config.ts"
import { loadConfig } from "../services/PluginConfig.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { PluginTransport } from "../services/PluginTransport.ts"

export const makeProtocolRouter = Effect.gen(function* () {
  const transport = yield* PluginTransport
  const paths = yield* PluginPaths
  const active = yield* Ref.make(Option.none<Config>())

  const notInitialized = new RpcFailure({
    code: ErrorCode.NotInitialized,
    message: "not initialized: send initialize first"
  })
  /** Runs `body` only after a successful initialize, with the config in force. */
  const initialized = <A>(body: (config: Config) => Effect.Effect<A, RpcFailure>) =>
    Effect.flatMap(Ref.get(active), Option.match({ onNone: () => Effect.fail(notInitialized), onSome: body }))

  const initialize = method(InitializeParams, () =>
    Effect.gen(function* () {
      const loaded = yield* loadConfig(paths.configPath).pipe(
        Effect.mapError(
          (e) =>
            new RpcFailure({
              code: ErrorCode.ConfigInvalid,
              message: `config invalid: ${e.message}`,
              data: { path: e.path, message: e.message }
            })
        )
      )
      for (const field of loaded.unknownFields) {
        yield* transport.log("warn", `unknown config field "${field}" in ${paths.configPath} is ignored`, {
          path: paths.configPath,
          field
        })
      }
      yield* Ref.set(active, Option.some(loaded.config))
      yield* transport.log("info", "plexum-openai-provider initialized", {
        binary: loaded.config.binary,
        models: loaded.config.supported_models,
        config: loaded.fromFile ? paths.configPath : "defaults"
      })
      return { protocolVersion: PROTOCOL_VERSION, manifest: makeManifest(loaded.config) }
    })
  )

  const router: RpcRouter = {
    requests: new Map([
      ["initialize", initialize],
      ["shutdown", () => initialized(() => Effect.succeed(null))],
      [
        "provider/stream",
        () =>
          initialized(() =>
            Effect.fail(new RpcFailure({ code: ErrorCode.MethodNotFound, message: "method not found: provider/stream" }))
          )
      ]
    ]),
    notifications: new Map(),
    inline: new Set(["initialize"]),
    onShutdown: Effect.void
  }
  return router
})
