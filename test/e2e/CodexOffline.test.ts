// The real codex CLI against the scripted model server: the ground every end-to-end test stands on.
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { fileURLToPath } from "node:url"
import { codexOfflineArgs, makeTempCodexHome, mcpServerArgs, runCodexExec } from "../support/CodexOffline.ts"
import { codexAtLeast } from "../support/CodexVersion.ts"
import {
  assistantMessage,
  functionCall,
  requestText,
  type ScriptedResponse,
  startScriptedModelServer
} from "../support/ScriptedModelServer.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const setup = async (script: Parameters<typeof startScriptedModelServer>[0]) => {
  const server = await startScriptedModelServer(script)
  cleanups.push(() => server.close())
  const home = await makeTempCodexHome()
  cleanups.push(home.cleanup)
  const ws = await mkdtemp(join(tmpdir(), "codex-ws-"))
  cleanups.push(() => rm(ws, { recursive: true, force: true }))
  const run = (prompt: string, extra: ReadonlyArray<string> = [], tail?: ReadonlyArray<string>) =>
    runCodexExec({
      codexHome: home.dir,
      cwd: ws,
      args: [...codexOfflineArgs(server.baseUrl), ...extra],
      prompt,
      ...(tail ? { tail } : {})
    })
  return { server, home, ws, run }
}

const echoServer = fileURLToPath(new URL("../fixtures/echo-mcp-server.mjs", import.meta.url))

const ofType = (events: ReadonlyArray<any>, type: string) => events.filter((e) => e.type === type)
const completedItems = (events: ReadonlyArray<any>, itemType: string) =>
  ofType(events, "item.completed").map((e) => e.item).filter((i) => i.type === itemType)

describe("codex offline against the scripted model server", () => {
  it("runs a plain turn: the prompt and developer instructions reach the model, the reply comes back", async () => {
    const { server, run } = await setup(() => ({
      items: [assistantMessage("Hello from the script")],
      usage: { input_tokens: 123, cached_tokens: 20, output_tokens: 7, reasoning_tokens: 3 }
    }))
    const result = await run("please greet me", ["-c", 'developer_instructions="Always answer like a pirate"'])

    expect(result.code).toBe(0)
    expect(ofType(result.events, "thread.started")[0].thread_id).toEqual(expect.any(String))
    expect(completedItems(result.events, "agent_message").map((i) => i.text)).toEqual(["Hello from the script"])
    expect(ofType(result.events, "turn.completed")[0].usage).toMatchObject({
      input_tokens: 123,
      cached_input_tokens: 20,
      output_tokens: 7,
      reasoning_output_tokens: 3
    })

    expect(server.requests).toHaveLength(1)
    const req = server.requests[0]!
    expect(req.body.model).toBe("mock-model")
    expect(req.body.stream).toBe(true)
    const input: Array<any> = req.body.input
    expect(input.at(-1)).toMatchObject({ type: "message", role: "user", content: [{ type: "input_text", text: "please greet me" }] })
    const developerText = JSON.stringify(input.filter((i) => i.role === "developer"))
    expect(developerText).toContain("Always answer like a pirate")
  })

  it("runs an exec_command call: codex executes it and sends its output back to the model", async () => {
    const { server, run } = await setup((req): ScriptedResponse =>
      req.index === 0
        ? { items: [functionCall("exec_command", { cmd: "echo tool-output-$((40+2))" }, { callId: "call_exec_1" })] }
        : { items: [assistantMessage("ran it")] }
    )
    const result = await run("run a command")

    expect(result.code).toBe(0)
    const commands = completedItems(result.events, "command_execution")
    // codex 0.135 and 0.151 race on a command this fast (as test/e2e/Turn.test.ts says): now and then
    // `exec --json` leaves out the item.completed or prints an empty aggregated_output (seen in CI
    // on 0.135). What the model gets, checked below, is complete on every version.
    if (codexAtLeast("0.169.0")) {
      expect(commands).toHaveLength(1)
      expect(commands[0]).toMatchObject({ status: "completed", exit_code: 0 })
      expect(commands[0].aggregated_output).toContain("tool-output-42")
    } else {
      expect(commands.length).toBeLessThanOrEqual(1)
      if (commands[0]) expect(commands[0]).toMatchObject({ status: "completed", exit_code: 0 })
      if (commands[0] && commands[0].aggregated_output !== "") expect(commands[0].aggregated_output).toContain("tool-output-42")
    }
    expect(completedItems(result.events, "agent_message").map((i) => i.text)).toEqual(["ran it"])

    expect(server.requests).toHaveLength(2)
    const tools: Array<any> = server.requests[0]!.body.tools
    expect(tools.map((t) => t.name)).toContain("exec_command")
    const followUp: Array<any> = server.requests[1]!.body.input
    const output = followUp.find((i) => i.type === "function_call_output")
    expect(output.call_id).toBe("call_exec_1")
    expect(JSON.stringify(output.output)).toContain("tool-output-42")
  })

  it("resumes a thread: the second turn's request carries the first turn's history and the new prompt", async () => {
    const { server, run } = await setup((req): ScriptedResponse =>
      req.index === 0
        ? { items: [functionCall("exec_command", { cmd: "echo first-turn-marker" }, { callId: "call_first" })] }
        : { items: [assistantMessage(req.index === 1 ? "first done" : "second done")] }
    )
    const first = await run("first prompt")
    expect(first.code).toBe(0)
    const threadId: string = ofType(first.events, "thread.started")[0].thread_id

    const second = await run("second prompt", [], ["resume", threadId, "-"])
    expect(second.code).toBe(0)
    expect(ofType(second.events, "thread.started")[0].thread_id).toBe(threadId)
    expect(completedItems(second.events, "agent_message").map((i) => i.text)).toEqual(["second done"])
    // usage in turn.completed is cumulative for the thread: 3 responses of the default 10/5
    expect(ofType(second.events, "turn.completed")[0].usage).toMatchObject({ input_tokens: 30, output_tokens: 15 })

    expect(server.requests).toHaveLength(3)
    const resumed = server.requests[2]!
    const text = requestText(resumed)
    expect(text).toContain("first prompt")
    expect(text).toContain("call_first")
    expect(text).toContain("first-turn-marker")
    expect(text).toContain("first done")
    expect(resumed.body.input.at(-1)).toMatchObject({ role: "user", content: [{ type: "input_text", text: "second prompt" }] })
  })

  it("fails a resume of an unknown thread before any model request", async () => {
    const { server, run } = await setup(() => ({ items: [assistantMessage("never")] }))
    const result = await run("x", [], ["resume", "01a2127a-0000-7000-8000-000000000000", "-"])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/no rollout found/i)
    expect(server.requests).toHaveLength(0)
  })

  it("calls a tool of a stdio MCP server registered with mcpServerArgs (tools approved)", async () => {
    const { server, run } = await setup((req): ScriptedResponse =>
      req.index === 0
        ? { items: [functionCall("echo", { text: "ping" }, { callId: "call_mcp", namespace: "mcp__echo" })] }
        : { items: [assistantMessage("echoed")] }
    )
    const result = await run("call echo", mcpServerArgs("echo", process.execPath, [echoServer]))

    expect(result.code).toBe(0)
    const calls = completedItems(result.events, "mcp_tool_call")
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatchObject({ server: "echo", tool: "echo", status: "completed", error: null })
    expect(calls[0].result.content).toEqual([{ type: "text", text: "echo: ping" }])
    const namespaces = (server.requests[0]!.body.tools as Array<any>).filter((t) => t.type === "namespace")
    expect(namespaces.map((n) => n.name)).toContain("mcp__echo")
    const output = (server.requests[1]!.body.input as Array<any>).find((i) => i.type === "function_call_output")
    expect(output.call_id).toBe("call_mcp")
    expect(JSON.stringify(output.output)).toContain("ping")
  })

  it("a hanging model response is ended by close(), which fails the turn instead of stalling it", async () => {
    const { server, run } = await setup(() => ({ hang: true }))
    const pending = run("wait forever")
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 20))
    await server.close()
    const result = await pending
    expect(result.code).toBe(1)
    expect(ofType(result.events, "turn.failed")).toHaveLength(1)
  })
})
