/**
 * `mcp-host` as a stand-alone script (tests, `tsx`, or a bundle of its own):
 * `McpHostEntry.ts [--socket PATH] [--agent-id ID]`. A leading `mcp-host` word is
 * accepted too, so it can stand in for the plugin executable as codex's launcher.
 */
import { mcpHostMain } from "./McpHostMain.ts"

const argv = process.argv.slice(2)
mcpHostMain(argv[0] === "mcp-host" ? argv.slice(1) : argv)
