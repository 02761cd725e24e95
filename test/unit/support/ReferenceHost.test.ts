// The reference host against a tiny fake plugin: what end-to-end tests rely on it to record.
import { spawn } from "node:child_process"
import { once } from "node:events"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { processesMatching, waitForNoProcesses } from "../../support/Processes.ts"
import { makeProfile, type ReferenceHost, startReferenceHost } from "../../support/ReferenceHost.ts"
import { readFile, stat } from "node:fs/promises"
import { join } from "node:path"

const fakePlugin = fileURLToPath(new URL("../../fixtures/fake-plugin.mjs", import.meta.url))
const hosts: Array<ReferenceHost> = []
afterEach(async () => {
  while (hosts.length) await hosts.pop()!.dispose()
})
const start = async (env: Record<string, string> = {}) => {
  const host = await startReferenceHost({ env, command: [process.execPath, fakePlugin] })
  hosts.push(host)
  return host
}

describe("ReferenceHost", () => {
  it("correlates responses, records events by seq, logs, stderr and raw stdout, and answers tool calls", async () => {
    const host = await start()
    expect((await host.initialize()).result).toEqual({ protocolVersion: 1, manifest: { name: "fake" } })
    host.onToolCall(async (p) => ({ content: [{ type: "text", text: `got ${p.name} ${JSON.stringify(p.arguments)}` }] }))

    const res = await host.request("provider/stream", { turnId: "turn-1" })
    expect(res.result.status).toBe("completed")
    expect(res.result.toolReply.result).toEqual({ content: [{ type: "text", text: 'got lookup {"q":1}' }] })
    expect(host.toolCalls).toEqual([{ turnId: "turn-1", agentId: "a1", name: "lookup", arguments: { q: 1 } }])
    expect(host.events.map((e) => e.seq)).toEqual([1, 0, 2]) // arrival order
    expect(host.eventsOf("turn-1").map((e) => e.type)).toEqual(["turn.started", "message", "turn.completed"])
    expect(host.eventsOf("other")).toEqual([])
    expect(host.logs).toEqual([{ level: "info", message: "starting", fields: { turnId: "turn-1" } }])
    expect(host.stderr).toContain("fake: stream turn-1")
    expect(host.stdoutLines.map((l) => JSON.parse(l).jsonrpc)).toEqual(Array(host.stdoutLines.length).fill("2.0"))
  })

  it("answers a tool call with a JSON-RPC error when the handler throws {code, message}", async () => {
    const host = await start()
    host.onToolCall(() => {
      throw { code: -32000, message: "tool exploded" }
    })
    const res = await host.request("provider/stream", { turnId: "t" })
    expect(res.result.toolReply.error).toEqual({ code: -32000, message: "tool exploded" })
  })

  it("sends raw bytes, notifications, exposes request ids, and waits for events", async () => {
    const host = await start()
    host.sendRaw("garbage\n")
    host.notify("host/ping")
    const { id, response } = host.startRequest("echo", { x: 1 })
    expect(await response).toEqual({ jsonrpc: "2.0", id, result: { x: 1 } })
    expect(JSON.parse(host.stdoutLines[0]!)).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } })
    host.onToolCall(() => ({ content: [] }))
    const pending = host.request("provider/stream", { turnId: "w" })
    expect(await host.waitForEvent("w", (e) => e.type === "turn.completed")).toEqual({ type: "turn.completed", finalMessage: "hi" })
    await pending
    await expect(host.waitForEvent("w", (e) => e.type === "never", 100)).rejects.toThrow(/no matching event/)
  })

  it("exits on closeStdin, and rejects requests after exit", async () => {
    const host = await start()
    host.closeStdin()
    expect(await host.exited).toEqual({ code: 0, signal: null })
    await expect(host.request("echo")).rejects.toThrow(/exited/)
    await host.dispose() // still safe
  })

  it("rejects a pending request when the plugin dies, and dispose KILLs a plugin that ignores EOF", async () => {
    const host = await start({ FAKE_PLUGIN_IGNORE_EOF: "1" })
    host.onToolCall(() => new Promise(() => {})) // the turn never finishes
    const pending = host.request("provider/stream", { turnId: "dies" })
    await host.waitForEvent("dies", (e) => e.type === "turn.started")
    host.kill("SIGTERM")
    await expect(pending).rejects.toThrow(/exited/)
    expect((await host.exited).signal).toBe("SIGTERM")

    const stubborn = await start({ FAKE_PLUGIN_IGNORE_EOF: "1" })
    expect(processesMatching(new RegExp(`^${process.execPath}.*fake-plugin`)).map((p) => p.pid)).toContain(stubborn.pid)
    await stubborn.dispose()
    expect((await stubborn.exited).signal).toBe("SIGKILL")
  }, 20_000)

  it("makeProfile writes the config file (JSON or raw text) or none", async () => {
    const a = await makeProfile({ sandbox: "read-only" })
    const b = await makeProfile("{not json")
    const c = await makeProfile()
    const file = (root: string) => join(root, "plugins", "plexum-openai-provider", "config.json")
    expect(JSON.parse(await readFile(file(a.root), "utf8"))).toEqual({ sandbox: "read-only" })
    expect(await readFile(file(b.root), "utf8")).toBe("{not json")
    await expect(stat(file(c.root))).rejects.toThrow()
    for (const p of [a, b, c]) await p.cleanup()
    await expect(stat(a.root)).rejects.toThrow()
  })
})

describe("Processes", () => {
  it("finds a live process by its command line with its process group, and sees it go", async () => {
    const marker = `proc-marker-${process.pid}-${Date.now()}`
    const other = spawn(process.execPath, ["-e", "setTimeout(()=>{}, 30000)"], { stdio: "ignore" })
    const withMarker = spawn(process.execPath, ["-e", "setTimeout(()=>{}, 30000)", marker], { detached: true, stdio: "ignore" })
    await Promise.all([once(other, "spawn"), once(withMarker, "spawn")])
    try {
      const found = processesMatching(new RegExp(marker))
      expect(found.map((p) => p.pid)).toEqual([withMarker.pid])
      expect(found[0]!.pgid).toBe(withMarker.pid) // detached: its own group
      expect(found[0]!.cmdline).toContain(`setTimeout`)
    } finally {
      withMarker.kill("SIGKILL")
      other.kill("SIGKILL")
    }
    expect(await waitForNoProcesses(new RegExp(marker), 5000)).toEqual([])
  })

  it("waitForNoProcesses returns the survivors when they outlive the timeout", async () => {
    const marker = `survivor-${process.pid}-${Date.now()}`
    const p = spawn(process.execPath, ["-e", "setTimeout(()=>{}, 30000)", marker], { stdio: "ignore" })
    try {
      await once(p, "spawn")
      const left = await waitForNoProcesses(new RegExp(marker), 200)
      expect(left.map((x) => x.pid)).toEqual([p.pid])
    } finally {
      p.kill("SIGKILL")
    }
  })
})
