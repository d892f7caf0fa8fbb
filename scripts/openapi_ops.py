#!/usr/bin/env python3
"""openapi_ops.py JIDO_BIN OPENAPI - keep web/openapi.json in step with the operation
table: for every operation of `jido ops --json` whose method and path are not in the
OpenAPI file yet, add them (parameters for path and query arguments, a JSON request body
for POST/PATCH, the scope, the documented error statuses), and set x-operation on every
operation that the table drives. Entries already there are kept as written (their
hand-made schemas stay). Run after adding an operation; web/api_test.c fails until the
file has it."""
import json
import re
import subprocess
import sys

jido, spec_file = sys.argv[1], sys.argv[2]
ops = json.loads(subprocess.check_output([jido + "/jido", "ops", "--json"]))
spec = json.load(open(spec_file))


def norm(p):
    return re.sub(r"\{[^}]*\}|:[A-Za-z_]+", "{}", p)


def err(desc):
    return {"description": desc, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}


by_norm = {norm(p): p for p in spec["paths"]}
for op in ops:
    path = by_norm.get(norm(op["path"]))
    if path is None:
        path = re.sub(r":([A-Za-z_]+)", r"{\1}", op["path"])
        spec["paths"][path] = {}
        by_norm[norm(path)] = path
    m = op["method"].lower()
    entry = spec["paths"][path].get(m)
    if entry is None:
        schema = op["input_schema"]
        names = re.findall(r"\{([^}]*)\}", path)
        tnames = re.findall(r":([A-Za-z_]+)", op["path"])
        params = []
        for pn, tn in zip(names, tnames):
            params.append({"name": pn, "in": "path", "required": True,
                           "schema": schema["properties"][tn],
                           "description": schema["properties"][tn]["description"]})
        rest = {k: v for k, v in schema["properties"].items() if k not in tnames}
        entry = {"summary": op["description"], "x-scope": op["scope"],
                 "security": [{"bearer": [op["scope"]]}]}
        if m == "get":
            for k, v in rest.items():
                params.append({"name": k, "in": "query", "required": k in schema["required"],
                               "schema": {x: y for x, y in v.items() if x != "description"},
                               "description": v["description"]})
        elif rest:
            entry["requestBody"] = {"required": bool(set(schema["required"]) - set(tnames)),
                                    "content": {"application/json": {"schema": {
                                        "type": "object", "properties": rest,
                                        "required": [r for r in schema["required"]
                                                     if r not in tnames],
                                        "additionalProperties": False}}}}
        if params:
            entry["parameters"] = params
        entry["responses"] = {
            str(op["status"]): {
                "description": "ok", "content": {"application/json": {"schema": {
                    "type": "object"}}}},
            "401": err("no, unknown, expired or revoked token"),
            "403": err("the token lacks the scope"),
            "404": err("not found"),
            "422": err("invalid arguments (validation_error)"),
            "429": err("rate limited (Retry-After)"),
            "503": err("a process (or the auditor) is unavailable"),
        }
        spec["paths"][path][m] = entry
    entry["x-operation"] = op["name"]
    entry["x-read-only"] = op["read_only"]
    entry["x-destructive"] = op["destructive"]
json.dump(spec, open(spec_file, "w"), indent=1, ensure_ascii=False)
open(spec_file, "a").write("\n")
