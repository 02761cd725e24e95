// A turn's events are numbered 0, 1, 2, … with no gap (PROTOCOL.md §4), even when a write is cut
// short by a stop while stdout is full.
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber } from "effect"
import { numberedWrites } from "../../../src/protocol/ProtocolHandlers.ts"
import type { TurnEvent } from "../../../src/schemas/Protocol.ts"

const notice = (message: string): TurnEvent => ({ type: "notice", level: "info", message })

describe("numberedWrites", () => {
  it.effect("numbers batches from 0 in order; a write interrupted before it was queued gives its numbers back", () =>
    Effect.gen(function* () {
      const sent: Array<[number, Array<string>]> = []
      const blocked = yield* Deferred.make<void>()
      let full = false
      const write = numberedWrites((firstSeq, events) =>
        full
          ? Effect.zipRight(Deferred.succeed(blocked, undefined), Effect.never) // stdout full: never queued
          : Effect.sync(() => void sent.push([firstSeq, events.map((e) => (e.type === "notice" ? e.message : e.type))])))
      yield* write(Chunk.make(notice("a"), notice("b")))
      full = true
      const stuck = yield* Effect.fork(write(Chunk.make(notice("lost"))))
      yield* Deferred.await(blocked)
      yield* Fiber.interrupt(stuck)
      full = false
      yield* write(Chunk.make(notice("end")))
      expect(sent).toEqual([[0, ["a", "b"]], [2, ["end"]]])
    }))
})
