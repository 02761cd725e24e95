// Records small real rollouts and `codex exec --json` outputs of one codex CLI against the scripted
// model server, into test/fixtures/rollouts/recorded/<version>/. Re-run after a codex upgrade, and
// once per version the plugin supports:
//   npx tsx scripts/record-rollout-fixtures.ts                  # the pinned codex (or PLEXUM_TEST_CODEX_BIN)
//   npx tsx scripts/record-rollout-fixtures.ts --bin /abs/codex # another version's binary
// Every fixture <name> gets <name>.jsonl (the rollout file as codex wrote it, except that codex's
// long base instructions are elided to keep the files small) and <name>.exec.jsonl (codex's
// stdout). See the README.md written beside them.
import { execFileSync } from "node:child_process"
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { isAbsolute, join } from "node:path"
import { fileURLToPath } from "node:url"
import { codexBin, codexOfflineArgs, makeTempCodexHome, mcpServerArgs, runCodexExec, type CodexRun } from "../test/support/CodexOffline.ts"
import {
  assistantMessage,
  functionCall,
  type ModelRequest,
  reasoningItem,
  type ScriptedResponse,
  startScriptedModelServer
} from "../test/support/ScriptedModelServer.ts"

const recordedDir = fileURLToPath(new URL("../test/fixtures/rollouts/recorded/", import.meta.url))
const echoServer = fileURLToPath(new URL("../test/fixtures/echo-mcp-server.mjs", import.meta.url))
const MAX_FIRST_LINE = 60 * 1024
/** Strings longer than this in codex's instructions (session_meta, developer messages) are elided. */
const ELIDE_OVER = 2048

const binArg = process.argv.indexOf("--bin")
const bin = binArg === -1 ? codexBin : process.argv[binArg + 1]
if (bin === undefined || !isAbsolute(bin)) throw new Error("--bin needs an absolute path")

/** "codex-cli 0.135.0" → "0.135.0". */
const versionOf = (binary: string): string => {
  const out = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim()
  const m = /(\d+\.\d+\.\d+\S*)\s*$/.exec(out)
  if (!m) throw new Error(`cannot read a version from \`${binary} --version\`: ${out}`)
  return m[1]!
}

const elided = (text: string) => `(${text.length} characters of codex's instructions elided by scripts/record-rollout-fixtures.ts)`

/**
 * codex's instructions (the session_meta's base instructions, developer messages) are most of every
 * file and nothing the tests read: they are replaced by a short note. Every other line stays
 * byte for byte as codex wrote it.
 */
const shrinkRollout = (text: string): string =>
  text
    .split("\n")
    .map((line) => {
      if (line.length <= ELIDE_OVER) return line
      let value: any
      try {
        value = JSON.parse(line)
      } catch {
        return line
      }
      const payload = value?.payload
      let changed = false
      if (value?.type === "session_meta" && typeof payload?.base_instructions?.text === "string" && payload.base_instructions.text.length > ELIDE_OVER) {
        payload.base_instructions.text = elided(payload.base_instructions.text)
        changed = true
      }
      if (value?.type === "response_item" && payload?.type === "message" && payload.role === "developer" && Array.isArray(payload.content)) {
        for (const part of payload.content) {
          if (typeof part?.text === "string" && part.text.length > ELIDE_OVER) {
            part.text = elided(part.text)
            changed = true
          }
        }
      }
      return changed ? JSON.stringify(value) : line
    })
    .join("\n")

type Script = (req: ModelRequest) => ScriptedResponse

/** Each fixture's turn: the scripted answers per request index (past the end: the last one). */
const usage = { input_tokens: 1200, cached_tokens: 200, output_tokens: 40, reasoning_tokens: 12 }
const scripts: Record<string, Script> = {
  "plain-turn": () => ({ items: [reasoningItem("Thinking about a greeting"), assistantMessage("Hello! How can I help?", "msg_plain_1")], usage }),
  "exec-turn": (req) =>
    req.index === 0
      ? { items: [assistantMessage("Listing the workspace.", "msg_exec_1"), functionCall("exec_command", { cmd: "echo fixture-output && ls" }, { callId: "call_exec_1" })], usage }
      : { items: [assistantMessage("The command printed fixture-output.", "msg_exec_2")], usage },
  "exec-turn-resumed": () => ({ items: [assistantMessage("Yes, it was fixture-output.", "msg_exec_3")], usage }),
  "mcp-turn": (req) =>
    req.index === 0
      ? { items: [functionCall("echo", { text: "ping" }, { callId: "call_mcp_1", namespace: "mcp__echo" })], usage }
      : { items: [assistantMessage("The echo server said: echo: ping", "msg_mcp_1")], usage },
  "mcp-turn-text": (req) =>
    req.index === 0
      ? { items: [functionCall("echo", { text: "pong" }, { callId: "call_mcp_2", namespace: "mcp__echo" })], usage }
      : { items: [assistantMessage("The echo server said: echo: pong", "msg_mcp_2")], usage },
  "failed-turn": () => ({ status: 400, body: JSON.stringify({ error: { message: "scripted failure for the fixture" } }) })
}

const findRollout = async (codexHome: string, threadId: string): Promise<string> => {
  const walk = async (dir: string): Promise<Array<string>> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))))
    return nested.flat()
  }
  const found = (await walk(join(codexHome, "sessions"))).filter((f) => f.endsWith(`-${threadId}.jsonl`))
  if (found.length !== 1) throw new Error(`expected one rollout for ${threadId}, found ${found.length}`)
  return found[0]!
}

const threadOf = (run: CodexRun): string => {
  const started = run.events.find((e) => e.type === "thread.started")
  if (!started) throw new Error(`no thread.started; exit ${run.code}; stderr:\n${run.stderr}`)
  return started.thread_id
}

const main = async () => {
  let current: Script = scripts["plain-turn"]!
  let offset = 0 // request index where the current fixture's turn began
  const version = versionOf(bin)
  const outDir = join(recordedDir, version)
  const server = await startScriptedModelServer((req) => current({ ...req, index: req.index - offset }))
  const home = await makeTempCodexHome()
  const ws = await mkdtemp(join(tmpdir(), "codex-fixture-ws-"))
  const notes: Array<string> = []
  await mkdir(outDir, { recursive: true })

  const record = async (
    name: string,
    prompt: string,
    opts: { extra?: ReadonlyArray<string>; tail?: ReadonlyArray<string>; copyAs?: string; expectFail?: boolean } = {}
  ) => {
    current = scripts[name]!
    offset = server.requests.length
    const run = await runCodexExec({
      codexHome: home.dir,
      cwd: ws,
      args: [...codexOfflineArgs(server.baseUrl), ...(opts.extra ?? [])],
      prompt,
      bin,
      ...(opts.tail ? { tail: opts.tail } : {})
    })
    if ((run.code === 0) === Boolean(opts.expectFail)) throw new Error(`${name}: exit ${run.code}\n${run.stdout}\n${run.stderr}`)
    const threadId = threadOf(run)
    const fileName = opts.copyAs ?? name
    await writeFile(join(outDir, `${fileName}.exec.jsonl`), run.stdout)
    const rollout = await findRollout(home.dir, threadId)
    const text = shrinkRollout(await readFile(rollout, "utf8"))
    await writeFile(join(outDir, `${fileName}.jsonl`), text)
    const size = Buffer.byteLength(text)
    const firstLine = text.split("\n")[0]!
    if (firstLine.length > MAX_FIRST_LINE) notes.push(`${fileName}.jsonl: first line is ${firstLine.length} bytes (over 60 KB)`)
    console.log(`${fileName}: thread ${threadId}, ${run.events.length} events, rollout ${size} bytes, ${server.requests.length - offset} model requests`)
    return threadId
  }

  try {
    await record("plain-turn", "Say hello.")
    const execThread = await record("exec-turn", "Run a command that prints fixture-output.")
    await record("exec-turn-resumed", "What did the command print?", { tail: ["resume", execThread, "-"] })
    await record("mcp-turn", "Call the echo tool with ping.", { extra: mcpServerArgs("echo", process.execPath, [echoServer]) })
    await record("mcp-turn-text", "Call the echo tool with pong.", {
      extra: mcpServerArgs("echo", process.execPath, [echoServer, "--text-only"])
    })
    await record("failed-turn", "This turn fails.", { expectFail: true })

    await writeFile(join(outDir, "README.md"), readme(`codex-cli ${version}`, notes))
  } finally {
    await server.close()
    await home.cleanup()
    await rm(ws, { recursive: true, force: true })
  }
}

const readme = (version: string, notes: ReadonlyArray<string>) => `# Recorded codex rollouts

Real files written by \`${version}\`, recorded by
\`scripts/record-rollout-fixtures.ts\` against the scripted Responses-API server
(\`test/support/ScriptedModelServer.ts\`) with the flags of \`test/support/CodexOffline.ts\`
(\`codexOfflineArgs\`), one temp CODEX_HOME and one temp workspace for all of them.
Re-record after a codex upgrade: \`npx tsx scripts/record-rollout-fixtures.ts [--bin /abs/path/codex]\`.
codex's long instructions (the session_meta's \`base_instructions.text\`, developer message texts
over ${ELIDE_OVER} characters) are replaced by a short note; every other line is byte for byte as
codex wrote it.

For each fixture \`<name>\`: \`<name>.jsonl\` is the rollout file
(\`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-…-<thread_id>.jsonl\`) exactly as codex wrote it, and
\`<name>.exec.jsonl\` is the stdout of that \`codex exec --json\` run.

| name | what |
|---|---|
| \`plain-turn\` | one response: a reasoning item ("Thinking about a greeting") and an assistant message |
| \`exec-turn\` | an assistant message plus an \`exec_command\` call (\`call_id: call_exec_1\`, \`echo fixture-output && ls\`), then a final message |
| \`exec-turn-resumed\` | \`codex exec … resume <thread of exec-turn> -\`: the same rollout file after a second turn (first turn's lines unchanged, second turn appended); the exec output is the second run only |
| \`mcp-turn\` | a call of the \`echo\` tool of a stdio MCP server (\`test/fixtures/echo-mcp-server.mjs\`, registered for that run only with \`mcpServerArgs\`: \`-c mcp_servers.echo.command=… args=[…] default_tools_approval_mode="approve"\`): \`function_call\` with \`namespace: "mcp__echo"\`, \`call_id: call_mcp_1\`; the call succeeds (\`mcp_tool_call\` completed with \`result.content\` and \`structured_content\`) |
| \`mcp-turn-text\` | the same with \`--text-only\` (no structured content), \`call_id: call_mcp_2\`. Note the two output shapes: with structured content the \`function_call_output.output\` is a string holding the structured JSON; text-only it is a content-item array |
| \`failed-turn\` | the model server answers HTTP 400: \`turn.failed\`, exit status 1 |

Every turn starts with codex's non-fatal \`item.completed {type:"error"}\` "Model metadata for
\`mock-model\` not found" (item_0) before \`turn.started\`.
Every response reports usage input 1200 (200 cached), output 40 (12 reasoning); \`turn.completed\`
usage is the sum over the turn's responses (and, on resume, the thread's earlier turns).
Paths inside (cwd, CODEX_HOME) are the temp directories of the recording run; the first line of
each rollout embeds codex's full base instructions as written.
${notes.length ? "\nNotes:\n" + notes.map((n) => `- ${n}`).join("\n") + "\n" : ""}`

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
