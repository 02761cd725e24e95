// Hostile input through the real executable: the plugin stays up, answers every
// valid request exactly once, and writes nothing but protocol lines.
import { afterEach, expect, it } from "vitest"
import { mulberry32 } from "../../support/Prng.ts"
import { makeProfile, startReferenceHost } from "../../support/ReferenceHost.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const hostileLines = (rand: () => number): Array<string | Buffer> => {
  const valid = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "provider/cancel", params: { turnId: "x" } })
  const generators: Array<() => string | Buffer> = [
    () => valid.slice(0, Math.floor(rand() * valid.length)), // truncated JSON
    () => JSON.stringify({ jsonrpc: "2.0", id: 1e7 + Math.floor(rand() * 1e6), method: 42 }),
    () => JSON.stringify({ jsonrpc: "2.0", id: 1e308 * 10, method: "shutdown" }).replace("null", "1e400"),
    () => `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"provider/cancel","params":{"turnId":7}}`,
    () => JSON.stringify({ jsonrpc: "2.0", id: "big", method: "x", params: { s: "x".repeat(1024 * 1024) } }),
    () => Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":"u","method":"\xff\xfe'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('"}')]),
    () => "[".repeat(5000 + Math.floor(rand() * 100000)) + "]".repeat(10),
    () => "[".repeat(2000) + "]".repeat(2000),
    () => JSON.stringify({ jsonrpc: "2.0", id: null, method: "initialize" }),
    () => JSON.stringify({ jsonrpc: "2.0", id: "p", method: "provider/stream", params: "not an object" }),
    () => JSON.stringify({ jsonrpc: "2.0", id: "r", result: { unexpected: true } }), // a response nobody asked for
    () => JSON.stringify({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: "nothing" } }),
    () => JSON.stringify({ jsonrpc: "2.0", method: "unknown/notification" }),
    () => "\u0000\u0001\u0002 control",
    () => JSON.stringify(rand()),
    () => "null",
    () => `{"jsonrpc":"2.0","id":"dup","id":"dup2","method":"shutdown","params":[]}`,
    () => JSON.stringify({ jsonrpc: "2.0", id: "t", method: "session/mutate", params: { agent: 1, mutations: "all" } })
  ]
  return Array.from({ length: 1200 }, () => generators[Math.floor(rand() * generators.length)]!())
}

it("survives 1,200 hostile lines interleaved with valid requests", async () => {
  const profile = await makeProfile()
  cleanups.push(profile.cleanup)
  const host = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: profile.root } })
  cleanups.push(() => host.dispose())
  await host.initialize()

  const seed = 20261125
  const rand = mulberry32(seed)
  const valid: Array<{ id: number; response: Promise<any> }> = []
  for (const [i, line] of hostileLines(rand).entries()) {
    host.sendRaw(typeof line === "string" ? line + "\n" : Buffer.concat([line, Buffer.from("\n")]))
    if (i % 4 === 0) valid.push(host.startRequest(i % 8 === 0 ? "shutdown" : "provider/cancel", { turnId: `turn-${i}` }))
  }
  const results = await Promise.all(valid.map((v) => v.response))
  expect(results.length).toBe(300)
  for (const r of results) expect(r.error, `seed ${seed}`).toBeUndefined()
  for (const r of results.filter((_, i) => i % 2 === 1)) expect(r.result).toEqual({ cancelled: false })

  // Every valid request was answered exactly once.
  const answered = host.stdoutLines.map((l) => JSON.parse(l)).filter((m) => "result" in m || "error" in m)
  for (const { id } of valid) expect(answered.filter((m) => m.id === id).length, `id ${id}`).toBe(1)

  // Nothing but protocol lines on stdout, and the process is still serving.
  for (const line of host.stdoutLines) expect(JSON.parse(line).jsonrpc).toBe("2.0")
  expect((await host.request("shutdown")).result).toBeNull()
  host.closeStdin()
  expect((await host.exited).code).toBe(0)
}, 120_000)
