// artifacts.mjs - a run's artifacts as MCP resources, read with the official SDK client:
// the run's list resource (jido://runs/{id}/artifacts) names each artifact with its uri;
// every expected artifact is read (latest, and a given version) and its bytes -- text for a
// textual media type, base64 blob otherwise -- must hash to the expected SHA-256 with the
// expected mimeType; an artifact too large for a resource and a missing one are errors.
// Prints PASS:/FAIL: lines; exit 1 on any failure.
//   node artifacts.mjs stdio JIDO_BIN_DIR RUN EXPECT_JSON
//   node artifacts.mjs http URL TOKEN RUN EXPECT_JSON
// EXPECT_JSON: {"items": [{"name", "version"?, "sha256", "as": "text"|"blob", "mimeType"}],
//               "too_large": "name"?}
import { createHash } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, ...rest] = process.argv.slice(2);
let transport, run, expect;
if (mode === "stdio") {
	transport = new StdioClientTransport({ command: `${rest[0]}/jido`, args: ["mcp"],
	    env: { ...process.env }, stderr: "ignore" });
	[run, expect] = [rest[1], JSON.parse(rest[2])];
} else {
	transport = new StreamableHTTPClientTransport(new URL(rest[0]),
	    { requestInit: { headers: { Authorization: `Bearer ${rest[1]}` } } });
	[run, expect] = [rest[2], JSON.parse(rest[3])];
}
let fails = 0;
const check = (ok, what, detail) => {
	console.log(`${ok ? "PASS" : "FAIL"}: [${mode}] ${what}${ok || !detail ? "" : ` (${detail})`}`);
	if (!ok) fails++;
};
const client = new Client({ name: "jido-artifacts", version: "1.0.0" });
try {
	await client.connect(transport);
	const { resourceTemplates } = await client.listResourceTemplates();
	check(resourceTemplates.some((t) => t.uriTemplate === "jido://runs/{id}/artifacts") &&
	    resourceTemplates.some((t) => t.uriTemplate.startsWith("jido://runs/{id}/artifacts/{name}")),
	    "resources/templates/list has the artifact templates");
	const { resources } = await client.listResources();
	check(resources.some((r) => r.uri === `jido://runs/${run}/artifacts`),
	    "resources/list names the run's artifact list");
	const lr = await client.readResource({ uri: `jido://runs/${run}/artifacts` });
	const list = JSON.parse(lr.contents[0].text);
	check(lr.contents[0].mimeType === "application/json" && Array.isArray(list.artifacts),
	    `the run's artifact list: ${list.artifacts?.length} artifacts`);
	for (const it of expect.items) {
		const row = list.artifacts.find((a) => a.name === it.name);
		check(row && row.uri.startsWith(`jido://runs/${run}/artifacts/${it.name}?version=`),
		    `${it.name} is listed with its uri`, JSON.stringify(row));
		const uri = `jido://runs/${run}/artifacts/${it.name}` +
		    (it.version ? `?version=${it.version}` : "");
		const r = await client.readResource({ uri });
		const c = r.contents[0];
		const bytes = it.as === "text" ? Buffer.from(c.text ?? "", "utf8") :
		    Buffer.from(c.blob ?? "", "base64");
		const sum = createHash("sha256").update(bytes).digest("hex");
		check(c.uri === uri && c.mimeType === it.mimeType &&
		    (it.as === "text" ? typeof c.text === "string" && c.blob === undefined :
		    typeof c.blob === "string" && c.text === undefined) && sum === it.sha256,
		    `${uri}: ${it.as}, ${it.mimeType}, the stored bytes`,
		    `mimeType ${c.mimeType}, text ${typeof c.text}, blob ${typeof c.blob}, sha256 ${sum}`);
	}
	if (expect.too_large) {
		try {
			await client.readResource({ uri: `jido://runs/${run}/artifacts/${expect.too_large}` });
			check(false, "an artifact over the resource limit is an error");
		} catch (e) {
			check(e.code === -32603 && /MiB/.test(e.message),
			    "an artifact over the resource limit is an error naming the limit", e.message);
		}
	}
	try {
		await client.readResource({ uri: `jido://runs/${run}/artifacts/no-such-artifact` });
		check(false, "a missing artifact is -32002");
	} catch (e) {
		check(e.code === -32002, "a missing artifact is -32002", e.message);
	}
	await client.close();
} catch (e) {
	check(false, "the session ran", e?.message ?? String(e));
}
process.exit(fails ? 1 : 0);
