/** The config in force as a Ref, empty until the first successful `initialize`. */
import { Effect, Layer, Option, Ref } from "effect"
import { ActiveConfig, NotInitialized } from "../services/PluginConfig.ts"
import type { Config } from "../schemas/Config.ts"

const notInitialized = new NotInitialized({ message: "not initialized: send initialize first" })

export const ActiveConfigLive = Layer.effect(
  ActiveConfig,
  Effect.map(Ref.make(Option.none<Config>()), (ref) =>
    ActiveConfig.of({
      get: Ref.get(ref),
      current: Effect.flatMap(Ref.get(ref), Option.match({ onNone: () => Effect.fail(notInitialized), onSome: Effect.succeed })),
      set: (config) => Ref.set(ref, Option.some(config))
    })
  )
)
