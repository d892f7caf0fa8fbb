#!/usr/bin/env bash
# gateway_vault.sh - the gateway's provider key comes from a real jido-vault (issue 8 with
# issue 3), not from config: an upstream configured `vault:llm.anthropic.api_key` has no
# key (and is not tried) while the vault lacks the secret; once the owner puts it, the
# gateway fetches it with its own credential and the Anthropic double sees exactly that
# key; a rotation reaches the gateway at its next refresh; a gateway started with another
# process's credential is refused by the vault's ACL and never gets the key; the key is in
# no log.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null || { fail "node is needed for the provider double"; t_done; }

GWCRED=$(openssl rand -hex 32)
INGCRED=$(openssl rand -hex 32)
mkdir -p "$JIDO_HOME/run"
{
	printf 'gateway %s\n' "$(printf '%s' "$GWCRED" | sha256sum | cut -d' ' -f1)"
	printf 'ingest %s\n' "$(printf '%s' "$INGCRED" | sha256sum | cut -d' ' -f1)"
} >"$JIDO_HOME/run/creds"
chmod 600 "$JIDO_HOME/run/creds"

REAL=sk-ant-vault-$(openssl rand -hex 12)
NEW=sk-ant-rotated-$(openssl rand -hex 12)
P=$(t_free_port); C=$(t_free_port)
VPID="" GPID="" DPID=""
cleanup_gv() {
	for p in $GPID $VPID $DPID; do kill -TERM "$p" 2>/dev/null; done
	for p in $GPID $VPID $DPID; do wait "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup_gv EXIT

jido-vault serve >"$JIDO_HOME/vault.out" 2>"$JIDO_HOME/vault.log" &
VPID=$!
v_ready() { t_nng vault '{"v":1,"type":"vault.health","id":"h"}' | grep -q READY; }
t_check "jido-vault starts" t_wait 10 v_ready
node "$top/tests/doubles/anthropic/double.js" --port "$P" --control-port "$C" --key "$REAL" >"$JIDO_HOME/d.log" 2>&1 &
DPID=$!
t_wait 10 curl -sf "http://127.0.0.1:$C/stats" >/dev/null || { fail "double start"; t_done; }

cat >"$JIDO_HOME/jido.conf" <<CONF
gateway.upstreams = a1,anthropic,http://127.0.0.1:$P,1,vault:llm.anthropic.api_key
gateway.key_refresh_s = 1
CONF
JIDO_PROC_CRED=$GWCRED jido-gateway serve >"$JIDO_HOME/gw.out" 2>"$JIDO_HOME/gw.log" &
GPID=$!
SOCK=$JIDO_HOME/run/gateway-http.sock
gw_ready() { curl -sf --unix-socket "$SOCK" http://gw/health >/dev/null; }
t_check "gateway serves HTTP" t_wait 10 gw_ready
has_key() { jido call gateway gateway.breakers | jq -r '.upstreams[0].has_key'; }
KEY=$(jido call gateway gateway.keys.create '{"run_id":"run-v","expires_s":600}' | jq -r .key)
MSG='{"model":"claude-sonnet-4-5-20250929","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
post() {
	curl -s --unix-socket "$SOCK" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
	    -H 'content-type: application/json' -o "$JIDO_HOME/body" -w '%{http_code}' --data-binary "$MSG" http://gw/v1/messages
}
not_found_logged() { grep -q '"gateway.vault_failed".*not_found' "$JIDO_HOME/gw.log"; }
t_check "no secret in the vault yet: the gateway asked and was told not_found" t_wait 10 not_found_logged
t_check "the upstream has no key" [ "$(has_key)" = false ]
c=$(post)
t_check "a request while no upstream has a key: 503, the double not asked" sh -c "[ $c = 503 ] && [ \$(curl -s http://127.0.0.1:$C/stats | jq .requests) = 0 ]"

printf '%s' "$REAL" | jido secrets put llm.anthropic.api_key --from-stdin >/dev/null
t_check "the owner puts llm.anthropic.api_key" test $? -eq 0
loaded() { [ "$(has_key)" = true ]; }
t_check "the gateway fetches it from the vault (retry within 5 s)" t_wait 15 loaded
t_check "logged as loaded from the vault" grep -q '"gateway.key_loaded".*"from":"vault"' "$JIDO_HOME/gw.log"
c=$(post)
t_check "a request with the scoped key succeeds through the vault's key" sh -c "[ $c = 200 ] && jq -e '.type == \"message\"' '$JIDO_HOME/body' >/dev/null"
t_check "the double saw exactly the vault's key, never the scoped one" sh -c "curl -s http://127.0.0.1:$C/stats | jq -e '(.keysSeen | keys) == [\"$REAL\"]' >/dev/null"

# rotation: the new version reaches the gateway at its next refresh (key_refresh_s = 1)
printf '%s' "$NEW" | jido secrets rotate llm.anthropic.api_key --from-stdin >/dev/null
t_check "the owner rotates the key" test $? -eq 0
rotated() { post >/dev/null; curl -s "http://127.0.0.1:$C/stats" | jq -e ".keysSeen[\"$NEW\"] > 0" >/dev/null; }
t_check "after the rotation the gateway sends the new version" t_wait 15 rotated

# another process's credential: the vault refuses, the gateway never holds the key
kill -TERM "$GPID"; wait "$GPID" 2>/dev/null; GPID=""
JIDO_PROC_CRED=$INGCRED jido-gateway serve >>"$JIDO_HOME/gw.out" 2>"$JIDO_HOME/gw2.log" &
GPID=$!
t_wait 10 gw_ready
refused() { grep -q '"gateway.vault_failed".*authorization_error' "$JIDO_HOME/gw2.log"; }
t_check "with ingest's credential the vault answers authorization_error" t_wait 10 refused
t_check "and the upstream has no key" [ "$(has_key)" = false ]
t_check "the vault logged the refusal" grep -q '"vault.refused".*llm.anthropic.api_key' "$JIDO_HOME/vault.log"

t_check "no provider key in any log" sh -c "! grep -qE '$REAL|$NEW' '$JIDO_HOME/gw.log' '$JIDO_HOME/gw2.log' '$JIDO_HOME/vault.log'"
t_check "no SIGSYS" sh -c "! grep -q SIGSYS '$JIDO_HOME/gw.log' '$JIDO_HOME/gw2.log' '$JIDO_HOME/vault.log'"
t_done
