/** `serve` (the default): speak the provider protocol on stdin/stdout until stdin ends. */
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"
import { ServeLive } from "../layers/MainLive.ts"

// Imported when serving starts: `manifest`, `--help` and the other commands start without it.
export const serve = Effect.flatMap(
  Effect.promise(() => import("../protocol/ProtocolServer.ts")),
  (server) => server.serveProtocol
).pipe(
  Effect.scoped,
  Effect.provide(ServeLive),
  // stdin has ended and everything we own is closed: exit 0 even if a stray handle lingers.
  Effect.zipRight(Effect.sync(() => process.exit(0)))
)

export const serveCommand = Command.make("serve", {}, () => serve).pipe(
  Command.withDescription("Speak the Plexum provider protocol on stdin/stdout (the default).")
)
