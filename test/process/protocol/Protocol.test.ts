// The protocol server through the real executable (PROTOCOL.md §1, §2, §6):
// what a host sees when it sends good, bad and hostile input.
import { afterEach, describe, expect, it } from "vitest"
import { makeProfile, type ReferenceHost, startReferenceHost } from "../../support/ReferenceHost.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const start = async (config?: unknown) => {
  const profile = await makeProfile(config)
  cleanups.push(profile.cleanup)
  const host = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: profile.root } })
  cleanups.push(() => host.dispose())
  return { host, profile }
}

/** Every stdout line is one JSON-RPC 2.0 object: nothing else ever reaches stdout. */
const expectOnlyProtocol = (host: ReferenceHost) => {
  for (const line of host.stdoutLines) {
    const msg = JSON.parse(line)
    expect(msg.jsonrpc).toBe("2.0")
    expect("method" in msg || "result" in msg || "error" in msg).toBe(true)
  }
}

describe("protocol server", () => {
  it("answers initialize with the manifest and shutdown with null, and exits 0 on stdin EOF", async () => {
    const { host } = await start()
    const init: any = await host.initialize()
    expect(init.result).toEqual({
      protocolVersion: 1,
      manifest: {
        name: "plexum-openai-provider",
        version: expect.any(String),
        activation: "lazy",
        executable: "plexum-openai-provider-plugin",
        contracts: { provider: { models: ["codex"] } }
      }
    })
    expect((await host.request("shutdown")).result).toBeNull()
    host.closeStdin()
    expect(await host.exited).toEqual({ code: 0, signal: null })
    expectOnlyProtocol(host)
  })

  it("exits 0 on stdin EOF without shutdown or initialize", async () => {
    const { host } = await start()
    host.closeStdin()
    expect((await host.exited).code).toBe(0)
    expect(host.stdoutLines).toEqual([])
  })

  it("answers garbage with -32700 and id null, non-requests with -32600, and keeps serving", async () => {
    const { host } = await start()
    host.sendRaw("this is not json\n")
    host.sendRaw('{"jsonrpc":"2.0","id":7,"method":\n')
    host.sendRaw("[1,2,3]\n")
    host.sendRaw('{"jsonrpc":"1.0","id":8,"method":"initialize"}\n')
    host.sendRaw('{"jsonrpc":"2.0","id":{"a":1},"method":"initialize"}\n')
    const init: any = await host.initialize()
    expect(init.result.protocolVersion).toBe(1)
    const errors = host.stdoutLines.map((l) => JSON.parse(l)).filter((m) => m.error)
    expect(errors.map((e) => [e.id, e.error.code])).toEqual([
      [null, -32700],
      [null, -32700],
      [null, -32600],
      [8, -32600],
      [null, -32600]
    ])
    expectOnlyProtocol(host)
  })

  it("answers -32001 before initialize and -32601 for an unknown method", async () => {
    const { host } = await start()
    expect((await host.request("provider/cancel", { turnId: "t" })).error?.code).toBe(-32001)
    expect((await host.request("shutdown")).error?.code).toBe(-32001)
    expect((await host.request("no/such/method", {})).error).toMatchObject({
      code: -32601,
      message: expect.stringContaining("no/such/method")
    })
  })

  it("answers -32602 naming the field when params have the wrong type", async () => {
    const { host } = await start()
    const bad: any = await host.request("initialize", { protocolVersion: "1", host: { name: "h", version: 3 } })
    expect(bad.error.code).toBe(-32602)
    expect(bad.error.data.message).toContain("protocolVersion")
    expect(bad.error.data.message).toContain("host.version")
    await host.initialize()
    const stream: any = await host.request("provider/stream", {
      turnId: 5,
      modelId: "codex",
      agent: { agentId: "a", workspace: "relative/path" },
      request: { messages: [] }
    })
    expect(stream.error.code).toBe(-32602)
    expect(stream.error.data.message).toContain("turnId")
    expect(stream.error.data.message).toContain("agent.workspace")
  })

  it("answers -32002 naming the file and the field for a config of the wrong type, and stays up", async () => {
    const { host, profile } = await start({ turn_timeout_ms: "soon", binary: "codex" })
    const init: any = await host.initialize()
    expect(init.error.code).toBe(-32002)
    expect(init.error.data.path).toBe(`${profile.root}/plugins/plexum-openai-provider/config.json`)
    expect(init.error.data.message).toContain("turn_timeout_ms")
    // Still alive and still not initialized.
    expect((await host.request("shutdown")).error?.code).toBe(-32001)
  })

  it("answers -32002 for a config file that is not valid JSON", async () => {
    const { host } = await start('{"binary": "codex",')
    const init: any = await host.initialize()
    expect(init.error.code).toBe(-32002)
    expect(init.error.data.message).toMatch(/not valid JSON/)
  })

  it("warns through host/log about unknown config fields and still initializes", async () => {
    const { host } = await start({ supported_models: ["codex", "gpt-5"], colour: "blue" })
    const init: any = await host.initialize()
    expect(init.result.manifest.contracts.provider.models).toEqual(["codex", "gpt-5"])
    expect(host.logs).toContainEqual(expect.objectContaining({ level: "warn", message: expect.stringContaining("colour") }))
  })

  it("creates a missing CODEX_HOME at initialize, private to the user (codex will not start without it)", async () => {
    const profile = await makeProfile()
    cleanups.push(profile.cleanup)
    const codexHome = `${profile.root}/not-yet/codex-home`
    const host = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: codexHome } })
    cleanups.push(() => host.dispose())
    expect((await host.initialize()).result).toBeDefined()
    const { statSync } = await import("node:fs")
    const st = statSync(codexHome)
    expect(st.isDirectory()).toBe(true)
    expect(st.mode & 0o777).toBe(0o700)
  })
})
