#!/usr/bin/env python3
"""web_openapi.py OPENAPI METHOD PATH STATUS BODYFILE - validate one real response of
jido-web against web/openapi.json: the path template and method exist, the status is
documented for the operation, and the JSON body validates against that status's schema
(jsonschema, draft 2020-12, $refs resolved inside the document). Exit 0 when valid, else
prints why and exits 1."""
import json
import sys

import jsonschema

spec_file, method, path, status, body_file = sys.argv[1:6]
spec = json.load(open(spec_file))
op = spec["paths"].get(path, {}).get(method.lower())
if op is None:
    sys.exit("%s %s is not in the OpenAPI file" % (method, path))
resp = op["responses"].get(status)
if resp is None:
    sys.exit("%s %s: status %s is not documented (has %s)" % (method, path, status,
                                                              sorted(op["responses"])))
schema = resp.get("content", {}).get("application/json", {}).get("schema")
if schema is None:
    sys.exit(0)
body = json.load(open(body_file))
root = dict(schema)
root["components"] = spec["components"]
try:
    jsonschema.Draft202012Validator(root).validate(body)
except jsonschema.ValidationError as e:
    sys.exit("%s %s %s: %s at %s" % (method, path, status, e.message, list(e.absolute_path)))
