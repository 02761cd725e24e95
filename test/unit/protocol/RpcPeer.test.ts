// Plugin→host calls (PROTOCOL.md §3, `host/tools/call`): each answered exactly once, by the host
// or, when stdin ends, by HostCallError; an answer for no call in flight changes nothing.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber } from "effect"
import { serveRequests } from "../../../src/protocol/RpcDispatcher.ts"
import { HostCallError, PluginTransport } from "../../../src/services/PluginTransport.ts"
import { InMemoryTransport, TestHost } from "../../support/InMemoryStdio.ts"

const noMethods = { requests: new Map(), notifications: new Map(), inline: new Set<string>(), onShutdown: Effect.void }

describe("RPC peer", () => {
  it.scoped("a host call gets the host's result; a second answer with the same id is ignored", () =>
    Effect.gen(function* () {
      const host = yield* TestHost
      const peer = yield* PluginTransport
      const served = yield* Effect.fork(serveRequests(noMethods))
      const first = yield* Effect.fork(peer.request("host/tools/call", { name: "a" }))
      const asked = yield* host.next
      expect(asked).toEqual({ jsonrpc: "2.0", id: "plugin-1", method: "host/tools/call", params: { name: "a" } })
      yield* host.write({ jsonrpc: "2.0", id: asked.id, result: { content: [] } })
      yield* host.write({ jsonrpc: "2.0", id: asked.id, error: { code: -32000, message: "late duplicate" } })
      expect(yield* Fiber.join(first)).toEqual({ content: [] })
      // The next call gets a new id and its own answer, not the duplicate.
      const second = yield* Effect.fork(Effect.either(peer.request("host/tools/call", { name: "b" })))
      const asked2 = yield* host.next
      expect(asked2.id).toBe("plugin-2")
      yield* host.write({ jsonrpc: "2.0", id: "plugin-2", error: { code: -32000, message: "tool exploded", data: { why: "x" } } })
      expect(yield* Fiber.join(second)).toEqual(
        Either.left(new HostCallError({ method: "host/tools/call", code: -32000, message: "tool exploded", data: { why: "x" } }))
      )
      yield* host.end
      yield* Fiber.join(served)
    }).pipe(Effect.provide(InMemoryTransport)))

  it.scoped("when stdin ends, a call in flight fails once with HostCallError, and a later call fails without being sent", () =>
    Effect.gen(function* () {
      const host = yield* TestHost
      const peer = yield* PluginTransport
      const served = yield* Effect.fork(serveRequests(noMethods))
      const inFlight = yield* Effect.fork(Effect.either(peer.request("host/tools/call", { name: "a" })))
      yield* host.next
      yield* host.end
      yield* Fiber.join(served)
      expect(yield* Fiber.join(inFlight)).toEqual(
        Either.left(new HostCallError({ method: "host/tools/call", message: "the host closed the connection" }))
      )
      expect(yield* Effect.either(peer.request("host/tools/call", { name: "b" }))).toEqual(
        Either.left(new HostCallError({ method: "host/tools/call", message: "the host closed the connection" }))
      )
      // Nothing was written for the refused call: the next thing the plugin writes is this notification.
      yield* peer.notify("probe", {})
      expect((yield* host.next).method).toBe("probe")
    }).pipe(Effect.provide(InMemoryTransport)))
})
