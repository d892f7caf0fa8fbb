// client.mjs - drives JidoCode's MCP server with the official MCP TypeScript SDK client
// (its own schema validation checks every answer), for tests/e2e/mcp.sh. Prints PASS:/FAIL:
// lines; exits 1 when any check failed.
//   node client.mjs stdio JIDO_BIN_DIR PROJECT WORKFLOW EXPECT   (spawns `jido mcp`)
//   node client.mjs http URL TOKEN PROJECT WORKFLOW EXPECT       (Streamable HTTP)
// EXPECT is "refused" (approvals off: approve must be refused) or "accepted".
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, ...rest] = process.argv.slice(2);
let fails = 0;
const pass = (m) => console.log(`PASS: [${mode}] ${m}`);
const fail = (m) => { console.log(`FAIL: [${mode}] ${m}`); fails++; };
const check = (ok, m, extra) => (ok ? pass(m) : fail(extra ? `${m}: ${extra}` : m));

let transport, project, workflow, expect;
if (mode === "stdio") {
	const [bin, p, w, e] = rest;
	[project, workflow, expect] = [p, w, e];
	transport = new StdioClientTransport({
		command: `${bin}/jido`,
		args: ["mcp"],
		env: { ...process.env },
		stderr: "pipe",
	});
	transport.stderr?.on("data", (d) => process.stderr.write(d));
} else if (mode === "http") {
	const [url, token, p, w, e] = rest;
	[project, workflow, expect] = [p, w, e];
	transport = new StreamableHTTPClientTransport(new URL(url), {
		requestInit: { headers: { Authorization: `Bearer ${token}` } },
	});
} else {
	console.error("usage: client.mjs stdio|http ...");
	process.exit(2);
}

const client = new Client({ name: "jido-e2e", version: "1.0.0" });
try {
	await client.connect(transport);
	pass(`connected, protocol ${transport.protocolVersion ?? "(stdio)"}, server ${client.getServerVersion()?.name}`);
	check(client.getServerCapabilities()?.tools !== undefined, "server declares tools");

	const { tools } = await client.listTools();
	const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
	check(tools.length >= 10, `tools/list: ${tools.length} tools`);
	check(byName.runs_list?.annotations?.readOnlyHint === true &&
	    byName.runs_list?.inputSchema?.type === "object", "runs_list is read-only with an input schema");
	check(byName.runs_kickoff?.annotations?.readOnlyHint === false &&
	    byName.runs_kickoff.inputSchema.required?.includes("project"), "runs_kickoff writes and requires a project");
	check(byName.approvals_reject?.annotations?.destructiveHint === true, "approvals_reject is destructive");
	check(byName.runs_follow !== undefined, "runs_follow is offered");

	const { resources } = await client.listResources();
	check(resources.some((r) => r.uri === "jido://projects"), `resources/list: ${resources.length} resources`);
	const { resourceTemplates } = await client.listResourceTemplates();
	check(resourceTemplates.some((t) => t.uriTemplate === "jido://runs/{id}/log"),
	    "resources/templates/list has runs/{id} and runs/{id}/log");

	const pl = await client.callTool({ name: "projects_list", arguments: {} });
	const names = (pl.structuredContent?.projects ?? []).map((p) => p.full_name);
	check(!pl.isError && names.includes(project), "read-only tool projects_list", JSON.stringify(pl).slice(0, 300));
	check(pl.content?.[0]?.type === "text" && pl.content[0].text.includes(project), "its text block carries the same data");

	const pr = await client.readResource({ uri: "jido://projects" });
	check(pr.contents?.[0]?.mimeType === "application/json" && JSON.parse(pr.contents[0].text).projects.length >= 1,
	    "resources/read jido://projects");

	const bad = await client.callTool({ name: "runs_get", arguments: { run: "r_nonesuch" } });
	check(bad.isError === true && bad.structuredContent?.error?.code === "not_found",
	    "an unknown run is a tool error with the shared code not_found");
	try {
		await client.readResource({ uri: "jido://runs/r_nonesuch" });
		fail("reading a missing run resource fails");
	} catch (e) {
		check(e.code === -32002, "reading a missing run resource is -32002", e.message);
	}

	const ko = await client.callTool({ name: "runs_kickoff", arguments: { project, workflow, issue: 7 } });
	const runId = ko.structuredContent?.id;
	check(!ko.isError && typeof runId === "string", `runs_kickoff started run ${runId}`, JSON.stringify(ko).slice(0, 300));

	const fo = await client.callTool({ name: "runs_follow", arguments: { run: runId, timeout_s: 20 } });
	check(!fo.isError && fo.structuredContent?.state === "awaiting_approval",
	    `runs_follow until the run waits for approval (${fo.structuredContent?.state})`);
	{
		// Following to the end: the run stays parked, so the follow times out after 2 s,
		// with a progress notification for what it saw on the way (over HTTP the answer
		// is then an SSE stream).
		const progress = [];
		const f2 = await client.callTool({ name: "runs_follow",
		    arguments: { run: runId, timeout_s: 2, until: "finished" } }, undefined,
		    { onprogress: (p) => progress.push(p), timeout: 30000 });
		check(!f2.isError && progress.length >= 1 && progress.at(-1).message?.includes("awaiting_approval"),
		    `progress notifications while following (${progress.length}: ${progress.at(-1)?.message})`);
	}

	const rr = await client.readResource({ uri: `jido://runs/${runId}` });
	check(JSON.parse(rr.contents[0].text).id === runId, "resources/read jido://runs/{id}");
	const lg = await client.readResource({ uri: `jido://runs/${runId}/log` });
	check(lg.contents[0].mimeType === "text/plain" && lg.contents[0].text.includes("awaiting_approval"),
	    "resources/read jido://runs/{id}/log");

	const ap = await client.callTool({ name: "approvals_approve",
	    arguments: { run: runId, rationale: "approved by the e2e test over MCP" } });
	if (expect === "refused") {
		check(ap.isError === true && ap.structuredContent?.error?.code === "policy_violation",
		    "approve over MCP is refused while mcp.allow_approvals is off", JSON.stringify(ap).slice(0, 300));
		const after = await client.callTool({ name: "runs_get", arguments: { run: runId } });
		check(after.structuredContent?.state === "awaiting_approval", "and the run still waits");
	} else {
		check(!ap.isError, "approve over MCP is accepted once mcp.allow_approvals is on",
		    JSON.stringify(ap).slice(0, 300));
		// Over HTTP following answers at once (one HTTP thread): ask again until it ends.
		let after;
		for (let i = 0; i < 100; i++) {
			after = await client.callTool({ name: "runs_follow", arguments: { run: runId, timeout_s: 20, until: "finished" } });
			if (after.structuredContent?.state !== "running" && after.structuredContent?.state !== "awaiting_approval") break;
			await new Promise((r) => setTimeout(r, 200));
		}
		check(after.structuredContent?.state === "completed", `the approved run completes (${after.structuredContent?.state})`);
	}
	console.log(`RUN: ${runId}`);
	await client.close();
} catch (e) {
	fail(`SDK client error: ${e?.stack ?? e}`);
}
process.exit(fails ? 1 : 0);
