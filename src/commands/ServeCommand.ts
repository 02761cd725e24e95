/**
 * `serve` (the default): speak the provider protocol on stdin/stdout until stdin ends. Its
 * services (ServeLive) are provided by Main.ts, which also runs it for the bare executable.
 */
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"

// Imported when serving starts: `manifest`, `--help` and the other commands start without it.
export const serveProtocol = Effect.flatMap(
  Effect.promise(() => import("../protocol/ProtocolServer.ts")),
  (server) => server.serveProtocol
).pipe(Effect.scoped)

export const serveCommand = Command.make("serve", {}, () => serveProtocol).pipe(
  Command.withDescription("Speak the Plexum provider protocol on stdin/stdout (the default).")
)
