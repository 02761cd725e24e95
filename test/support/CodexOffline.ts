// Running the real codex CLI (the pinned one, or PLEXUM_TEST_CODEX_BIN: see codexBin) offline against test/support/ScriptedModelServer.ts.
//
// What checking by hand taught (codex-cli 0.169.0, this machine):
// - The provider table plus `-m mock-model` is all a turn needs; no login. The unknown model only
//   adds a non-fatal `item.completed {type:"error", message:"Model metadata for `mock-model` not
//   found..."}` (item_0) before `turn.started` in `exec --json` output — expect it in every turn.
// - Speed: a plain turn takes ~0.7 s, an exec_command turn ~0.85 s, but only with
//   `--disable shell_snapshot` (else codex snapshots a login shell first: +0.4 s) and
//   `-c allow_login_shell=false` (else commands run as `bash -lc`, paying the login profile and
//   printing its noise, e.g. pyenv warnings, into the command output). With them the command shows
//   as `/bin/bash -c '<cmd>'`.
// - Disabling apps, multi_agent, goals, image_generation, tool_suggest, skill_search and hooks makes
//   the request ~26 KB instead of ~39 KB and leaves the tools list as exec_command, write_stdin,
//   request_user_input, view_image, web_search (plus MCP namespaces). No apply_patch tool is
//   offered for the unknown model.
// - The request body has no `instructions` field: codex's base instructions arrive as the first
//   `developer` message of `input` (~17 KB); then a second developer message (skills list), a
//   `user` message `<environment_context>` (cwd, shell, date), then the prompt as a `user` message.
//   `-c developer_instructions="..."` works: its text becomes the FIRST content part of that second
//   developer message (checked in test/e2e/CodexOffline.test.ts).
// - An exec_command result goes back as `function_call_output.output` = a string
//   "Chunk ID: …\nWall time: … seconds\nProcess exited with code 0\n…Output:\n<stdout>".
// - With `request_max_retries=0, stream_max_retries=0` in the provider table an HTTP 500 fails the
//   turn after one request (`turn.failed` "We're currently experiencing high demand…"), an HTTP 400
//   fails it with the raw body as the message; exit status 1 either way.
// - `--json` usage is the sum of the scripted `usage` of every response of the turn (cumulative
//   for the thread on resume).
// - `codex exec [flags] resume <thread> -` needs the same provider flags again; `resume` also
//   accepts `-c`, `-m`, `--disable` after it. `thread.started` repeats the same thread id. The
//   resumed request's `input` is the whole earlier history (developer messages, environment
//   context, earlier prompt, function_call/function_call_output, assistant message) followed only
//   by the new prompt (no second environment context); `prompt_cache_key` is the thread id.
// - A CODEX_HOME under /tmp makes codex print to stderr "WARNING: proceeding, even though we could
//   not create PATH aliases: Refusing to create helper binaries under temporary dir" — harmless.
// - MCP tools NEED APPROVAL: with `codex exec` (approval policy "never") an MCP tool call fails
//   with `mcp_tool_call.error.message = "MCP tool call requires approval, but approval policy is
//   never"` under the read-only and workspace-write sandboxes (it only runs under
//   danger-full-access), unless the server entry has `default_tools_approval_mode = "approve"`
//   (variants: auto | prompt | writes | approve; `auto` still fails here). `codex mcp add` cannot
//   set it: write it into config.toml or pass `-c mcp_servers.<name>.default_tools_approval_mode="approve"`.
// - What the model gets back from an MCP call (function_call_output.output, same in the rollout):
//   a result WITH structuredContent → a STRING "Wall time: … seconds\nOutput:\n<structured JSON>"
//   (the text content is dropped!); a text-only result → a content-item array
//   [{type:"input_text", text:"Wall time: … seconds\nOutput:"}, {type:"input_text", text:"<text>"}];
//   a failed call → the same array shape with the error text.
// - A stdio MCP server given with `-c mcp_servers.<name>.command=… -c mcp_servers.<name>.args=[…]`
//   is started before the first model request; a node server on the MCP SDK took ~1 s to start on
//   this (busy) machine, so such a turn takes 2–3 s.
// - Nothing but `POST /v1/responses` was requested from the scripted server with these flags.
// - `--profile=<name>` ("profile v2", 0.135 through 0.171) layers `$CODEX_HOME/<name>.config.toml`
//   over config.toml for that run only; `<name>` must be a plain name (a path is refused with exit 2).
//   `developer_instructions` there reaches the model exactly as `-c developer_instructions=…` does
//   (a developer message; on `exec … resume` neither form adds a new one: the thread's first stays in
//   its history), and an `[mcp_servers.<name>]` table there is started for that run while a plain
//   `codex mcp list` never shows it. This is how the plugin keeps the system prompt and its host-tools
//   server out of argv and out of the user's config.toml (src/core/codex/RunProfile.ts).
// - `model_instructions_file` (the only instructions-from-a-file key in 0.135–0.171) replaces codex's
//   BASE instructions: checked on 0.169, the ~17 KB first developer message becomes just the file's
//   text (codex's own agent instructions are gone). Not a substitute for developer_instructions.
import { spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { isAbsolute, join } from "node:path"
import { fileURLToPath } from "node:url"

/** The project's pinned codex CLI (node_modules/.bin/codex). */
export const pinnedCodexBin: string = fileURLToPath(new URL("../../node_modules/.bin/codex", import.meta.url))

/**
 * The codex CLI every test, bench and demo runs: `PLEXUM_TEST_CODEX_BIN` (an absolute path) when
 * set — `npm run compat` points it at another version's binary — else the pinned one.
 */
export const codexBin: string = (() => {
  const override = process.env.PLEXUM_TEST_CODEX_BIN
  if (override === undefined || override === "") return pinnedCodexBin
  if (!isAbsolute(override)) throw new Error(`PLEXUM_TEST_CODEX_BIN must be an absolute path, got ${override}`)
  return override
})()

/** Features that cost time or outside calls and that no test needs. */
const disabledFeatures = [
  "unbounded_connection_retries", // else an unreachable model server means retrying forever
  "plugins", // else codex reaches for outside hosts
  "shell_snapshot",
  "apps",
  "multi_agent",
  "goals",
  "image_generation",
  "tool_suggest",
  "skill_search",
  "hooks"
] as const

/**
 * Flags for `codex exec` (and `codex exec ... resume`) that point codex at the scripted server
 * at `baseUrl` and keep a turn quiet, fast and bounded. Put them before `resume` / `-`.
 */
export const codexOfflineArgs = (baseUrl: string): ReadonlyArray<string> => [
  "-c",
  "model_provider=mock",
  "-c",
  `model_providers.mock={name="mock",base_url="${baseUrl}",wire_api="responses",request_max_retries=0,stream_max_retries=0,stream_idle_timeout_ms=30000}`,
  "-m",
  "mock-model",
  "-c",
  "analytics.enabled=false",
  "-c",
  "allow_login_shell=false",
  "-c",
  "check_for_update_on_startup=false",
  // `-c features.<name>=false` rather than `--disable <name>`: a version that does not know the
  // feature (0.135 has no unbounded_connection_retries or skill_search) refuses `--disable` of it
  // ("Unknown feature flag") but ignores the config key.
  ...disabledFeatures.flatMap((f) => ["-c", `features.${f}=false`])
]

/**
 * `-c` flags that register a stdio MCP server for one run only, required (codex waits for it),
 * with its tools approved (else every call fails, see above) and bounded start-up and call timeouts.
 */
export const mcpServerArgs = (
  name: string,
  command: string,
  args: ReadonlyArray<string> = [],
  opts: { startupTimeoutSec?: number; toolTimeoutSec?: number } = {}
): ReadonlyArray<string> => [
  "-c",
  `mcp_servers.${name}.command=${JSON.stringify(command)}`,
  "-c",
  `mcp_servers.${name}.args=${JSON.stringify(args)}`,
  "-c",
  `mcp_servers.${name}.default_tools_approval_mode="approve"`,
  // Wait for the server like the plugin does (src/core/ServerName.ts requireServerArgs): an
  // optional one that is slow to start on a busy machine is left out of the turn.
  "-c",
  `mcp_servers.${name}.required=true`,
  "-c",
  `mcp_servers.${name}.startup_timeout_sec=${opts.startupTimeoutSec ?? 20}`,
  "-c",
  `mcp_servers.${name}.tool_timeout_sec=${opts.toolTimeoutSec ?? 30}`
]

/** A fresh, empty CODEX_HOME; `cleanup` removes it (safe to call twice). */
export const makeTempCodexHome = async (): Promise<{ dir: string; cleanup(): Promise<void> }> => {
  const dir = await mkdtemp(join(tmpdir(), "codex-home-"))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

export interface CodexRun {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** stdout parsed line by line (the `--json` events); non-JSON lines are skipped. */
  readonly events: ReadonlyArray<any>
}

/**
 * Runs `codex exec --json --skip-git-repo-check <args> -C <cwd> <tail>` with CODEX_HOME = `codexHome`,
 * writes `prompt` to stdin and closes it. `tail` defaults to `["-"]`; for a resume pass
 * `["resume", threadId, "-"]`. Killed (whole process group) after `timeoutMs` (default 30 s).
 */
export const runCodexExec = (opts: {
  readonly codexHome: string
  readonly cwd: string
  readonly args: ReadonlyArray<string>
  readonly prompt: string
  readonly tail?: ReadonlyArray<string>
  readonly env?: Record<string, string>
  readonly timeoutMs?: number
  /** The codex executable; default `codexBin`. */
  readonly bin?: string
}): Promise<CodexRun> =>
  new Promise((resolve, reject) => {
    const argv = ["exec", "--json", "--skip-git-repo-check", ...opts.args, "-C", opts.cwd, ...(opts.tail ?? ["-"])]
    const child = spawn(opts.bin ?? codexBin, argv, {
      env: { ...process.env, ...opts.env, CODEX_HOME: opts.codexHome },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true // own process group, so the timeout can end the tools codex started too
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        // already gone
      }
    }, opts.timeoutMs ?? 30_000)
    child.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const events = stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .flatMap((l) => {
          try {
            return [JSON.parse(l)]
          } catch {
            return []
          }
        })
      resolve({ code, signal, stdout, stderr, events })
    })
    child.stdin.on("error", () => {}) // codex may exit before reading the prompt
    child.stdin.end(opts.prompt)
  })
