// The stdio half of the transport (PROTOCOL.md §1, §3): stdout written in the order things were
// said, host/log included; a line over the limit answered once while the next ones are served;
// a host that writes faster than the plugin reads is held back by the pipe.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger } from "effect"
import { makeHostLogger } from "../../../src/protocol/HostLogger.ts"
import { serveRequests } from "../../../src/protocol/RpcDispatcher.ts"
import type { RpcRouter } from "../../../src/protocol/RpcRouter.ts"
import { stdioPipes } from "../../support/StdioPipes.ts"

const router = (requests: RpcRouter["requests"], inline: ReadonlyArray<string> = []): RpcRouter => ({
  requests,
  notifications: new Map(),
  inline: new Set(inline),
  onShutdown: Effect.void
})

describe("stdio transport", () => {
  it.scopedLive("a host/log said between two provider/event batches reaches stdout between them", () =>
    Effect.gen(function* () {
      const pipes = yield* stdioPipes()
      const logger = Logger.replace(Logger.defaultLogger, makeHostLogger(pipes.stdio))
      yield* Effect.gen(function* () {
        yield* pipes.peer.notifyTurnEvents("t1", 0, [{ type: "message", itemId: "m1", text: "one" }, { type: "message", itemId: "m2", text: "two" }])
        yield* Effect.logWarning("between the batches").pipe(Effect.annotateLogs({ turnId: "t1" }))
        yield* pipes.peer.notifyTurnEvents("t1", 2, [{ type: "message", itemId: "m3", text: "three" }])
      }).pipe(Effect.provide(logger))
      yield* pipes.stdio.flush
      expect(pipes.messages().map((m) => (m.method === "host/log" ? m.params.message : m.params.seq))).toEqual([0, 1, "between the batches", 2])
      expect(pipes.messages()[2]).toEqual({ jsonrpc: "2.0", method: "host/log", params: { level: "warn", message: "between the batches", fields: { turnId: "t1" } } })
      expect(pipes.stderr()).toBe('plexum-openai-provider warn: between the batches {"turnId":"t1"}\n')
    }))

  it.scopedLive("with the outbox full behind a slow host, a host/log still keeps its place among the batches", () =>
    Effect.gen(function* () {
      const pipes = yield* stdioPipes({ slowOutput: true })
      const logger = Logger.replace(Logger.defaultLogger, makeHostLogger(pipes.stdio))
      yield* Effect.gen(function* () {
        for (let seq = 0; seq < 60; seq++) {
          yield* pipes.peer.notifyTurnEvents("t1", seq, [{ type: "message", itemId: `m${seq}`, text: "x" }])
          if (seq === 40) yield* Effect.logInfo("after seq 40")
        }
      }).pipe(Effect.provide(logger))
      yield* pipes.stdio.flush
      const order = pipes.messages().map((m) => (m.method === "host/log" ? m.params.message : m.params.seq))
      expect(order).toEqual([...Array.from({ length: 41 }, (_, i) => i), "after seq 40", ...Array.from({ length: 19 }, (_, i) => 41 + i)])
    }))

  it.scopedLive("a line over the limit is answered once with -32600 and the next line is served", () =>
    Effect.gen(function* () {
      const pipes = yield* stdioPipes({ limits: { maxLineBytes: 1024 } })
      const served = yield* Effect.fork(
        serveRequests(router(new Map([["ping", () => Effect.succeed("pong")]]))).pipe(Effect.provide(pipes.context))
      )
      pipes.input.write(`{"jsonrpc":"2.0","id":0,"method":"ping","params":{"pad":"${"x".repeat(5000)}"}}\n`)
      pipes.input.end('{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
      yield* Fiber.join(served)
      expect(pipes.written()).toBe(
        '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: a line longer than 1024 bytes was dropped"}}\n' +
          '{"jsonrpc":"2.0","id":1,"result":"pong"}\n'
      )
    }))

  it.scopedLive("while a request is handled inline, a flooding host is held back by the pipe instead of queued in memory", () =>
    Effect.gen(function* () {
      const pipes = yield* stdioPipes()
      const release = yield* Deferred.make<void>()
      const served = yield* Effect.fork(
        serveRequests(
          router(
            new Map([
              ["block", () => Effect.as(Deferred.await(release), "unblocked")],
              ["ping", () => Effect.succeed("pong")]
            ]),
            ["block"]
          )
        ).pipe(Effect.provide(pipes.context))
      )
      pipes.input.write('{"jsonrpc":"2.0","id":1,"method":"block"}\n')
      // Notifications nobody handles, 1 KiB each, up to 16 MiB; the event loop turns between writes
      // so a reader that drains stdin into memory would keep up and the pipe would never fill.
      const flood = `{"jsonrpc":"2.0","method":"noise","params":{"pad":"${"x".repeat(980)}"}}\n`
      let accepted = 0
      while (accepted < 16_384 && pipes.input.write(flood)) {
        accepted++
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      }
      expect(accepted).toBeLessThan(16_384)
      yield* Deferred.succeed(release, undefined)
      pipes.input.end('{"jsonrpc":"2.0","id":2,"method":"ping"}\n')
      yield* Fiber.join(served)
      expect(pipes.messages()).toEqual([
        { jsonrpc: "2.0", id: 1, result: "unblocked" },
        { jsonrpc: "2.0", id: 2, result: "pong" }
      ])
    }))
})

