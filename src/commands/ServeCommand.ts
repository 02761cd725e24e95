/** `serve` (the default): speak the provider protocol on stdin/stdout until stdin ends. */
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { PluginTransportLive } from "../layers/PluginTransportLive.ts"
import { makeProtocolRouter } from "../layers/ProtocolHandlers.ts"
import { PluginTransport } from "../services/PluginTransport.ts"

export const serve = Effect.gen(function* () {
  const transport = yield* PluginTransport
  const router = yield* makeProtocolRouter
  yield* transport.serve(router)
}).pipe(
  Effect.provide(PluginTransportLive),
  // stdin has ended and everything we own is closed: exit 0 even if a stray handle lingers.
  Effect.zipRight(Effect.sync(() => process.exit(0)))
)

export const serveCommand = Command.make("serve", {}, () => serve).pipe(
  Command.withDescription("Speak the Plexum provider protocol on stdin/stdout (the default).")
)
