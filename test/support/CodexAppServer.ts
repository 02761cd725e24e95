// A minimal client of `codex app-server` (CODEX.md "codex app-server"): one process, requests by id,
// closed by ending its stdin.
import { spawn } from "node:child_process"

export interface AppServerAnswer {
  readonly result?: any
  readonly error?: { readonly code: number; readonly message: string }
}

/** Starts `<binary> app-server` on `codexHome`, sends `calls` in order, and returns their answers. */
export const appServerCalls = async (
  binary: string,
  codexHome: string,
  calls: ReadonlyArray<{ readonly method: string; readonly params: Record<string, unknown> }>,
  timeoutMs = 30_000
): Promise<{ answers: ReadonlyArray<AppServerAnswer>; stderr: string; code: number | null }> => {
  const child = spawn(binary, ["app-server"], { env: { ...process.env, CODEX_HOME: codexHome }, stdio: ["pipe", "pipe", "pipe"] })
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-20_000)))
  const pending = new Map<number, (a: AppServerAnswer) => void>()
  let buf = ""
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    buf += d
    const lines = buf.split("\n")
    buf = lines.pop()!
    for (const line of lines) {
      if (line.trim() === "") continue
      const msg = JSON.parse(line)
      if (msg.id !== undefined && msg.method === undefined) pending.get(msg.id)?.(msg)
      else if (msg.id !== undefined) child.stdin.write(JSON.stringify({ id: msg.id, error: { code: -32601, message: "test client" } }) + "\n")
    }
  })
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  let nextId = 1
  const request = (method: string, params: Record<string, unknown>) =>
    new Promise<AppServerAnswer>((resolve, reject) => {
      const id = nextId++
      pending.set(id, resolve)
      exited.then(() => reject(new Error(`app-server exited before answering ${method}: ${stderr}`)))
      child.stdin.write(JSON.stringify({ id, method, params }) + "\n")
    })
  try {
    await request("initialize", { clientInfo: { name: "plexum-test", version: "0" }, capabilities: { experimentalApi: true } })
    child.stdin.write(JSON.stringify({ method: "initialized" }) + "\n")
    const answers: Array<AppServerAnswer> = []
    for (const c of calls) answers.push(await request(c.method, c.params))
    child.stdin.end()
    return { answers, stderr, code: await exited }
  } finally {
    clearTimeout(timer)
    if (child.exitCode === null) child.kill("SIGKILL")
  }
}
