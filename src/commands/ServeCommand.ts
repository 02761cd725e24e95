/** `serve` (the default): speak the provider protocol on stdin/stdout until stdin ends. */
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"

// Imported when serving starts: `manifest`, `--help` and the other commands start without it.
export const serve = Effect.flatMap(
  Effect.promise(() => import("../layers/ProtocolServer.ts")),
  (server) => server.serveProtocol
)

export const serveCommand = Command.make("serve", {}, () => serve).pipe(
  Command.withDescription("Speak the Plexum provider protocol on stdin/stdout (the default).")
)
