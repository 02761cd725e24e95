// A reference Plexum host (PROTOCOL.md): spawns the real plugin executable and speaks
// newline-delimited JSON-RPC 2.0 over its stdio, recording everything it sees so tests can assert
// on what a host would notice.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** The real plugin executable, resolved from this file. */
export const pluginBin: string = fileURLToPath(new URL("../../bin/plexum-openai-provider-plugin", import.meta.url))

export interface RpcError {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

export interface RpcResponse {
  readonly jsonrpc?: "2.0"
  readonly id: number | string | null
  readonly result?: any
  readonly error?: RpcError
}

export interface ToolCallParams {
  readonly turnId: string
  readonly agentId: string
  readonly name: string
  readonly arguments: any
}

export interface ProviderEvent {
  readonly turnId: string
  readonly seq: number
  readonly event: any
}

export interface ReferenceHost {
  /** Sends a request; resolves with the whole response object. Rejects if the plugin exits first. */
  request(method: string, params?: unknown): Promise<RpcResponse>
  /** Like `request` but also gives the id used, e.g. for `$/cancelRequest {id}`. */
  startRequest(method: string, params?: unknown): { readonly id: number; readonly response: Promise<RpcResponse> }
  notify(method: string, params?: unknown): void
  /** Writes bytes as they are (no newline added): for garbage tests. */
  sendRaw(line: string | Buffer): void
  /** `provider/event` notifications in arrival order. */
  readonly events: ReadonlyArray<ProviderEvent>
  /** The `event`s of one turn, ordered by seq. */
  eventsOf(turnId: string): ReadonlyArray<any>
  /** Resolves with the first event of `turnId` (already seen or future) matching `predicate`. */
  waitForEvent(turnId: string, predicate: (event: any) => boolean, timeoutMs?: number): Promise<any>
  /** `host/log` params in arrival order. */
  readonly logs: ReadonlyArray<any>
  /** Every raw stdout line, for "nothing but protocol" checks. */
  readonly stdoutLines: ReadonlyArray<string>
  readonly stderr: string
  /** Answers `host/tools/call`; throw `{code, message}` to answer with a JSON-RPC error. */
  onToolCall(handler: (params: ToolCallParams) => Promise<any> | any): void
  /** Every `host/tools/call` params received, in arrival order. */
  readonly toolCalls: ReadonlyArray<ToolCallParams>
  /** `initialize` with protocolVersion 1. */
  initialize(): Promise<RpcResponse>
  closeStdin(): void
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly pid: number
  kill(signal?: NodeJS.Signals): void
  /** Closes stdin, waits up to 10 s for exit, then KILLs. Always safe to call, also twice. */
  dispose(): Promise<void>
}

const STDERR_CAP = 4 * 1024 * 1024

export const startReferenceHost = async (opts: {
  env?: Record<string, string>
  args?: ReadonlyArray<string>
  /** argv prefix to run instead of the real plugin, e.g. [process.execPath, "fake-plugin.mjs"]. */
  command?: ReadonlyArray<string>
  /** The plugin's working directory (default: this process's). */
  cwd?: string
}): Promise<ReferenceHost> => {
  const [file, ...prefix] = opts.command ?? [pluginBin]
  const child: ChildProcessWithoutNullStreams = spawn(file!, [...prefix, ...(opts.args ?? [])], {
    env: { ...process.env, ...opts.env },
    stdio: ["pipe", "pipe", "pipe"],
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd })
  })
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve())
    child.once("error", reject)
  })

  const events: Array<ProviderEvent> = []
  const logs: Array<any> = []
  const stdoutLines: Array<string> = []
  const toolCalls: Array<ToolCallParams> = []
  const pending = new Map<number | string, { resolve: (r: RpcResponse) => void; reject: (e: Error) => void }>()
  const eventWaiters = new Set<() => void>()
  let stderr = ""
  let nextId = 1
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined
  let toolHandler: (params: ToolCallParams) => Promise<any> | any = (p) => {
    throw { code: -32601, message: `reference host: no tool handler for ${p.name}` }
  }

  const write = (data: string | Buffer) => {
    if (!child.stdin.destroyed && child.stdin.writable) child.stdin.write(data)
  }
  const send = (msg: Record<string, unknown>) => write(JSON.stringify({ jsonrpc: "2.0", ...msg }) + "\n")
  child.stdin.on("error", () => {}) // the plugin may be gone; `exited` tells the story

  const answerToolCall = async (id: number | string, params: ToolCallParams) => {
    toolCalls.push(params)
    try {
      const result = await toolHandler(params)
      send({ id, result })
    } catch (e: any) {
      const error =
        e && typeof e === "object" && typeof e.code === "number"
          ? { code: e.code, message: String(e.message ?? "error"), ...(e.data !== undefined ? { data: e.data } : {}) }
          : { code: -32603, message: String(e?.message ?? e) }
      send({ id, error })
    }
  }

  const onLine = (line: string) => {
    stdoutLines.push(line)
    let msg: any
    try {
      msg = JSON.parse(line)
    } catch {
      return // recorded in stdoutLines; protocol tests check them
    }
    if (msg === null || typeof msg !== "object") return
    if (typeof msg.method === "string") {
      if (msg.method === "provider/event" && msg.id === undefined) {
        events.push(msg.params)
        for (const w of [...eventWaiters]) w()
      } else if (msg.method === "host/log" && msg.id === undefined) {
        logs.push(msg.params)
      } else if (msg.method === "host/tools/call" && msg.id !== undefined) {
        void answerToolCall(msg.id, msg.params)
      } else if (msg.id !== undefined) {
        send({ id: msg.id, error: { code: -32601, message: `reference host: unknown method ${msg.method}` } })
      }
      return
    }
    if (msg.id !== undefined && ("result" in msg || "error" in msg)) {
      const waiter = pending.get(msg.id)
      if (waiter) {
        pending.delete(msg.id)
        waiter.resolve(msg)
      }
    }
  }

  let buffered = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk
    let nl: number
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      onLine(line)
    }
  })
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    if (stderr.length < STDERR_CAP) stderr += chunk
  })

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      if (buffered !== "") onLine(buffered) // a last line without newline still counts as output
      buffered = ""
      exitInfo = { code, signal }
      for (const [id, w] of pending) w.reject(new Error(`plugin exited (${code ?? signal}) before answering request ${id}; stderr:\n${stderr.slice(-2000)}`))
      pending.clear()
      for (const w of [...eventWaiters]) w()
      resolve(exitInfo)
    })
  })

  const startRequest = (method: string, params?: unknown) => {
    const id = nextId++
    const response = new Promise<RpcResponse>((resolve, reject) => {
      if (exitInfo) return reject(new Error(`plugin already exited (${exitInfo.code ?? exitInfo.signal})`))
      pending.set(id, { resolve, reject })
      send(params === undefined ? { id, method } : { id, method, params })
    })
    return { id, response }
  }

  const eventsOf = (turnId: string) =>
    events
      .filter((e) => e.turnId === turnId)
      .sort((a, b) => a.seq - b.seq)
      .map((e) => e.event)

  const waitForEvent = (turnId: string, predicate: (event: any) => boolean, timeoutMs = 30_000) =>
    new Promise<any>((resolve, reject) => {
      const check = () => {
        const found = eventsOf(turnId).find(predicate)
        if (found !== undefined) return done(() => resolve(found))
        if (exitInfo) return done(() => reject(new Error(`plugin exited while waiting for an event of ${turnId}`)))
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`no matching event of ${turnId} within ${timeoutMs} ms; got ${JSON.stringify(eventsOf(turnId))}`))),
        timeoutMs
      )
      const done = (settle: () => void) => {
        clearTimeout(timer)
        eventWaiters.delete(check)
        settle()
      }
      eventWaiters.add(check)
      check()
    })

  const kill = (signal: NodeJS.Signals = "SIGTERM") => {
    if (!exitInfo) {
      try {
        child.kill(signal)
      } catch {
        // already gone
      }
    }
  }

  const closeStdin = () => {
    if (!child.stdin.destroyed) child.stdin.end()
  }

  const dispose = async () => {
    closeStdin()
    if (!exitInfo) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))])
      clearTimeout(timer)
      kill("SIGKILL")
    }
    await exited
  }

  return {
    request: (method, params) => startRequest(method, params).response,
    startRequest,
    notify: (method, params) => send(params === undefined ? { method } : { method, params }),
    sendRaw: (line) => write(line),
    events,
    eventsOf,
    waitForEvent,
    logs,
    stdoutLines,
    get stderr() {
      return stderr
    },
    onToolCall: (handler) => {
      toolHandler = handler
    },
    toolCalls,
    initialize: () => startRequest("initialize", { protocolVersion: 1, host: { name: "reference-host", version: "0.0.0" } }).response,
    closeStdin,
    exited,
    pid: child.pid!,
    kill,
    dispose
  }
}

/**
 * A temp PLEXUM_PROFILE_ROOT. With `config`, writes plugins/plexum-openai-provider/config.json
 * (a string is the raw file text, anything else is JSON-encoded); without, no config file.
 */
export const makeProfile = async (
  config?: unknown,
  opts: {
    /** mkdtemp's prefix (default `<os temp dir>/plexum-profile-`) and a sub-directory of it to be the profile. */
    readonly prefix?: string
    readonly subdir?: string
  } = {}
): Promise<{ root: string; cleanup(): Promise<void> }> => {
  const temp = await mkdtemp(opts.prefix ?? join(tmpdir(), "plexum-profile-"))
  const root = opts.subdir === undefined ? temp : join(temp, opts.subdir)
  const pluginDir = join(root, "plugins", "plexum-openai-provider")
  await mkdir(pluginDir, { recursive: true })
  if (config !== undefined) {
    await writeFile(join(pluginDir, "config.json"), typeof config === "string" ? config : JSON.stringify(config, null, 2))
  }
  return { root, cleanup: () => rm(temp, { recursive: true, force: true }) }
}
