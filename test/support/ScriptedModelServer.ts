// A scripted OpenAI Responses-API server on loopback (CODEX.md "Running it with no account").
// Each POST .../responses is handed to `script`, whose answer is streamed back as the Server-Sent
// Events codex reads: response.created, response.output_item.added/done per item, and
// response.completed with usage. Any other path gets a harmless JSON answer so codex never
// stalls or retries on it.
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export type OutputItem = Record<string, unknown>

export interface ScriptedUsage {
  readonly input_tokens: number
  readonly cached_tokens?: number
  readonly output_tokens: number
  readonly reasoning_tokens?: number
}

export type ScriptedResponse =
  | {
      readonly items: ReadonlyArray<OutputItem>
      readonly usage?: ScriptedUsage
      /** Stream each assistant message as text deltas (word by word), like a model that writes slowly. */
      readonly stream?: StreamPacing
    }
  /** Accept the request and never answer (for cancel/timeout tests); `close()` ends it. */
  | { readonly hang: true }
  /** An HTTP error: 400 fails the turn at once, 5xx makes codex retry. */
  | { readonly status: number; readonly body: string }

export interface StreamPacing {
  /** Pause between two deltas; default 0. */
  readonly delayMs?: number
  /** `response.completed` (and the items' `output_item.done`) waits for this after the deltas. */
  readonly holdCompletion?: Promise<void>
  /** Told (performance.now()) when each text delta has been written, for latency measurements. */
  readonly onDelta?: (at: number) => void
}

export interface ModelRequest {
  /** 0-based position among the /responses requests this server received. */
  readonly index: number
  /** The parsed JSON body (`model`, `input`, `tools`, `instructions`, ...). */
  readonly body: any
  readonly raw: string
}

export interface ScriptedModelServer {
  /** e.g. http://127.0.0.1:PORT/v1 — the `base_url` of the codex provider. */
  readonly baseUrl: string
  /** Every /responses request, in arrival order. */
  readonly requests: ReadonlyArray<ModelRequest>
  /** Every other request (method and path), e.g. GET /v1/models. */
  readonly otherRequests: ReadonlyArray<{ readonly method: string; readonly path: string }>
  /** Stops listening and ends every open (hanging) response. */
  close(): Promise<void>
}

const DEFAULT_USAGE: ScriptedUsage = { input_tokens: 10, output_tokens: 5 }

export const assistantMessage = (text: string, id: string = `msg_${randomUUID()}`): OutputItem => ({
  type: "message",
  role: "assistant",
  id,
  status: "completed",
  content: [{ type: "output_text", text, annotations: [] }]
})

/** A tool call; `args` is JSON-encoded unless it is already a string. */
export const functionCall = (
  name: string,
  args: unknown,
  opts: { callId?: string; namespace?: string } = {}
): OutputItem => ({
  type: "function_call",
  id: `fc_${randomUUID()}`,
  call_id: opts.callId ?? `call_${randomUUID()}`,
  name,
  ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
  arguments: typeof args === "string" ? args : JSON.stringify(args),
  status: "completed"
})

export const reasoningItem = (summary: string): OutputItem => ({
  type: "reasoning",
  id: `rs_${randomUUID()}`,
  summary: [{ type: "summary_text", text: summary }]
})

/** The request's `input` as JSON text, for `toContain` assertions on what reached the model. */
export const requestText = (req: ModelRequest): string => JSON.stringify(req.body?.input ?? null)

const sseFrame = (type: string, data: Record<string, unknown>): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`

const usageJson = (u: ScriptedUsage) => ({
  input_tokens: u.input_tokens,
  input_tokens_details: { cached_tokens: u.cached_tokens ?? 0 },
  output_tokens: u.output_tokens,
  output_tokens_details: { reasoning_tokens: u.reasoning_tokens ?? 0 },
  total_tokens: u.input_tokens + u.output_tokens
})

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const sendJson = (res: ServerResponse, status: number, value: unknown) => {
  const text = JSON.stringify(value)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

const streamItems = (res: ServerResponse, model: unknown, answer: { items: ReadonlyArray<OutputItem>; usage?: ScriptedUsage }) => {
  const id = `resp_${randomUUID()}`
  const base = { id, object: "response", model: model ?? "mock-model", created_at: Math.floor(Date.now() / 1000) }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
  let seq = 0
  const frames: Array<string> = [
    sseFrame("response.created", { sequence_number: seq++, response: { ...base, status: "in_progress", output: [] } })
  ]
  answer.items.forEach((item, output_index) => {
    frames.push(sseFrame("response.output_item.added", { sequence_number: seq++, output_index, item }))
    frames.push(sseFrame("response.output_item.done", { sequence_number: seq++, output_index, item }))
  })
  frames.push(
    sseFrame("response.completed", {
      sequence_number: seq++,
      response: { ...base, status: "completed", output: answer.items, usage: usageJson(answer.usage ?? DEFAULT_USAGE) }
    })
  )
  res.end(frames.join(""))
}

/** The items streamed with `response.output_text.delta` for every assistant message, paced by `pacing`. */
const streamItemsSlowly = async (
  res: ServerResponse,
  model: unknown,
  answer: { items: ReadonlyArray<OutputItem>; usage?: ScriptedUsage },
  pacing: StreamPacing
) => {
  const id = `resp_${randomUUID()}`
  const base = { id, object: "response", model: model ?? "mock-model", created_at: Math.floor(Date.now() / 1000) }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
  let seq = 0
  const send = (type: string, data: Record<string, unknown>) => res.write(sseFrame(type, { sequence_number: seq++, ...data }))
  const pause = () => new Promise((r) => setTimeout(r, pacing.delayMs ?? 0))
  send("response.created", { response: { ...base, status: "in_progress", output: [] } })
  for (const [output_index, item] of answer.items.entries()) {
    const isMessage = item.type === "message" && Array.isArray(item.content)
    const isReasoning = item.type === "reasoning" && Array.isArray(item.summary)
    send("response.output_item.added", {
      output_index,
      item: isMessage ? { ...item, content: [] } : isReasoning ? { ...item, summary: [] } : item
    })
    if (isReasoning) {
      for (const [summary_index, part] of (item.summary as Array<{ text?: string }>).entries()) {
        const text = part.text ?? ""
        send("response.reasoning_summary_part.added", { item_id: item.id, output_index, summary_index, part: { type: "summary_text", text: "" } })
        for (const piece of text.match(/\S+\s*|\s+/g) ?? []) {
          await pause()
          if (res.destroyed) return
          send("response.reasoning_summary_text.delta", { item_id: item.id, output_index, summary_index, delta: piece })
        }
        send("response.reasoning_summary_text.done", { item_id: item.id, output_index, summary_index, text })
      }
    }
    if (!isMessage) continue
    const text = (item.content as Array<{ text?: string }>).map((c) => c.text ?? "").join("")
    send("response.content_part.added", { item_id: item.id, output_index, content_index: 0, part: { type: "output_text", text: "", annotations: [] } })
    for (const piece of text.match(/\S+\s*|\s+/g) ?? []) {
      await pause()
      if (res.destroyed) return
      send("response.output_text.delta", { item_id: item.id, output_index, content_index: 0, delta: piece })
      pacing.onDelta?.(performance.now())
    }
    send("response.output_text.done", { item_id: item.id, output_index, content_index: 0, text })
  }
  await pacing.holdCompletion
  if (res.destroyed) return
  answer.items.forEach((item, output_index) => send("response.output_item.done", { output_index, item }))
  send("response.completed", {
    response: { ...base, status: "completed", output: answer.items, usage: usageJson(answer.usage ?? DEFAULT_USAGE) }
  })
  res.end()
}

export const startScriptedModelServer = async (
  script: (req: ModelRequest) => ScriptedResponse | Promise<ScriptedResponse>
): Promise<ScriptedModelServer> => {
  const requests: Array<ModelRequest> = []
  const otherRequests: Array<{ method: string; path: string }> = []
  const open = new Set<ServerResponse>()

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req)
    const path = (req.url ?? "/").split("?")[0] ?? "/"
    if (req.method === "POST" && path.endsWith("/responses")) {
      let body: any = null
      try {
        body = JSON.parse(raw)
      } catch {
        body = null
      }
      const request: ModelRequest = { index: requests.length, body, raw }
      requests.push(request)
      let answer: ScriptedResponse
      try {
        answer = await script(request)
      } catch (e) {
        sendJson(res, 500, { error: { message: `scripted server: script threw: ${String(e)}` } })
        return
      }
      if ("hang" in answer) {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.flushHeaders()
        return // left open until the client goes away or close()
      }
      if ("status" in answer) {
        res.writeHead(answer.status, { "content-type": "application/json" })
        res.end(answer.body)
        return
      }
      if (answer.stream !== undefined) await streamItemsSlowly(res, body?.model, answer, answer.stream)
      else streamItems(res, body?.model, answer)
      return
    }
    otherRequests.push({ method: req.method ?? "", path })
    if (req.method === "GET" && path.endsWith("/models")) {
      sendJson(res, 200, { object: "list", data: [], models: [] })
      return
    }
    sendJson(res, 200, {})
  }

  const server = createServer((req, res) => {
    open.add(res)
    res.on("close", () => open.delete(res))
    handle(req, res).catch((e) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(e) } })
      else res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const { port } = server.address() as AddressInfo

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    otherRequests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
