// call.mjs - call one MCP tool with the official SDK client and print its
// structuredContent as one JSON line (for channel-parity tests: the same operation over
// REST, the CLI and MCP must give the same result). Exit 0 on a result, 1 when the tool
// answered isError (the error object is printed), 2 on a protocol or transport failure.
//   node call.mjs stdio JIDO_BIN_DIR TOOL [ARGS_JSON]
//   node call.mjs http URL TOKEN TOOL [ARGS_JSON]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, ...rest] = process.argv.slice(2);
let transport, tool, args;
if (mode === "stdio") {
	transport = new StdioClientTransport({ command: `${rest[0]}/jido`, args: ["mcp"],
	    env: { ...process.env }, stderr: "ignore" });
	[tool, args] = [rest[1], rest[2]];
} else if (mode === "http") {
	transport = new StreamableHTTPClientTransport(new URL(rest[0]),
	    { requestInit: { headers: { Authorization: `Bearer ${rest[1]}` } } });
	[tool, args] = [rest[2], rest[3]];
} else {
	console.error("usage: call.mjs stdio BIN TOOL [ARGS] | http URL TOKEN TOOL [ARGS]");
	process.exit(2);
}
const client = new Client({ name: "jido-call", version: "1.0.0" });
try {
	await client.connect(transport);
	const r = await client.callTool({ name: tool, arguments: args ? JSON.parse(args) : {} });
	console.log(JSON.stringify(r.structuredContent ?? null));
	await client.close();
	process.exit(r.isError ? 1 : 0);
} catch (e) {
	console.error(`call.mjs: ${e?.message ?? e}`);
	process.exit(2);
}
