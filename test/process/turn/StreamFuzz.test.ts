// Hostile provider/stream params through the real executable, interleaved with real turns (fake
// codex): every request is answered exactly once, a refused one sends no event, an admitted one
// ends with exactly one terminal event, valid turns keep completing, and stdout stays protocol.
import { afterEach, expect, it } from "vitest"
import { mulberry32 } from "../../support/Prng.ts"
import { join } from "node:path"
import { makeTempCodexHome } from "../../support/CodexOffline.ts"
import { makeProfile, startReferenceHost } from "../../support/ReferenceHost.ts"

const FAKE = join(import.meta.dirname, "../../fixtures/fake-codex/fake-codex.mjs")
const SEED = 0x5eed

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const nested = (depth: number): Record<string, unknown> => {
  let v: Record<string, unknown> = { type: "string" }
  for (let i = 0; i < depth; i++) v = { type: "object", properties: { x: v } }
  return v
}

it("survives hostile tool specs, images, schemas and ids interleaved with real turns", async () => {
  const home = await makeTempCodexHome()
  const profile = await makeProfile({ binary: FAKE })
  const host = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: home.dir, FAKE_CODEX_MODE: "ok" } })
  cleanups.push(() => host.dispose(), home.cleanup, profile.cleanup)
  await host.initialize()
  const rand = mulberry32(SEED)
  const pick = <T>(xs: ReadonlyArray<T>): T => xs[Math.floor(rand() * xs.length)]!
  const ws = "/tmp"
  const user = [{ role: "user", content: "hi" }]
  let n = 0
  const hostile: Array<() => { turnId: unknown; params: Record<string, unknown> }> = [
    () => ({ turnId: `h${n}`, params: { request: { messages: user, tools: [{ name: "t", inputSchema: nested(65 + Math.floor(rand() * 60)) }] } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: user, tools: [{ name: "t", inputSchema: { big: "x".repeat(1024 * 1024 + 1) } }] } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: user, tools: [{ name: "t", inputSchema: pick([[], "s", null, 7]) }] } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: user, tools: [{ name: pick(["", "x".repeat(2000)]), inputSchema: {} }] } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: user, tools: Array.from({ length: 1100 }, (_, i) => ({ name: `t${i}`, inputSchema: {} })) } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: [{ role: "user", content: [{ type: "image", path: pick(["", "a\u0000b"]) }] }] } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: user, options: { outputSchema: pick([nested(100), [1], "x", { s: "y".repeat(1_100_000) }]) } } } }),
    () => ({ turnId: pick(["", "x".repeat(5000), 42, null, { id: 1 }]), params: { request: { messages: user } } }),
    () => ({ turnId: `h${n}`, params: { agent: { agentId: pick(["", "a".repeat(5000), 7]), workspace: ws }, request: { messages: user } } }),
    () => ({ turnId: `h${n}`, params: { agent: { agentId: "fuzz", workspace: pick(["", "relative/ws", 3]) }, request: { messages: user } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: pick(["nope", [{ role: "robot", content: "x" }], [{ role: "user", content: 5 }]]) } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: user, options: { timeoutMs: pick([-1, 0, 1.5, "soon"]) } } } }),
    () => ({ turnId: `h${n}`, params: { request: { messages: user, session: { threadId: pick([7, ["x"]]) } } } }),
    // Valid but odd: an unknown thread id shaped like a path, and an image that does not exist.
    () => ({ turnId: `h${n}`, params: { agent: { agentId: `odd-${n}`, workspace: ws }, request: { messages: user, session: { threadId: pick(["../../etc", "*", "x".repeat(300)]) } } } }),
    () => ({ turnId: `h${n}`, params: { agent: { agentId: `odd-${n}`, workspace: ws }, request: { messages: [{ role: "user", content: [{ type: "image", path: "/nonexistent/img.png" }] }] } } })
  ]

  const pending: Array<{ turnId: unknown; valid: boolean; response: Promise<any> }> = []
  for (let round = 0; round < 20; round++) {
    for (let k = 0; k < 12; k++, n++) {
      const { turnId, params } = pick(hostile)()
      const full = { modelId: "codex", agent: { agentId: `fuzz-${n}`, workspace: ws }, ...params, turnId }
      pending.push({ turnId, valid: false, response: host.request("provider/stream", full) })
    }
    const turnId = `valid-${round}`
    pending.push({
      turnId,
      valid: true,
      response: host.request("provider/stream", { turnId, modelId: "codex", agent: { agentId: `valid-agent-${round}`, workspace: ws }, request: { messages: user } })
    })
  }
  for (const p of pending) {
    const response = await p.response
    const events = typeof p.turnId === "string" ? host.eventsOf(p.turnId) : []
    if (p.valid) {
      expect(response.result?.status, `valid turn ${p.turnId}`).toBe("completed")
      expect(events.at(-1)?.type).toBe("turn.completed")
    } else if (response.error) {
      expect([-32602, -32003]).toContain(response.error.code)
      expect(events).toEqual([]) // a refused turn sends nothing
    } else {
      expect(["completed", "failed"]).toContain(response.result.status)
      expect(events.filter((e) => e.type === "turn.completed" || e.type === "turn.failed")).toHaveLength(1)
      expect(["turn.completed", "turn.failed"]).toContain(events.at(-1)?.type)
    }
  }
  // Still serving, and nothing but protocol lines on stdout.
  expect((await host.request("provider/cancel", { turnId: "none" })).result).toEqual({ cancelled: false })
  for (const line of host.stdoutLines) expect(JSON.parse(line).jsonrpc).toBe("2.0")
  host.closeStdin()
  expect((await host.exited).code).toBe(0)
})
