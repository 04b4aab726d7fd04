#!/usr/bin/env bash
# pip-audit over the pinned requirements. Exit 0: no known vulnerabilities; 1: vulnerabilities found;
# 3: the vulnerability service could not be reached (run this where the network allows: Spaces, a connected CI).
set -uo pipefail
cd "$(dirname "$0")/.."
AUDIT=".venv/bin/pip-audit"
output=$("$AUDIT" --require-hashes --disable-pip -r requirements.txt --progress-spinner off 2>&1)
status=$?
echo "$output"
pinned=$(grep -cE '^[A-Za-z0-9_.-]+==' requirements.txt)
skipped=$(echo "$output" | grep -c "could not be audited")
if [ "$skipped" -ge "$pinned" ] || { [ $status -ne 0 ] && echo "$output" | grep -qiE "connection|timed out|Max retries|ProxyError|SSLError"; }; then
    echo "audit: the vulnerability service (PyPI / OSV) is not reachable from here; nothing was checked." >&2
    echo "audit: run 'make audit' where the network allows (on Spaces, in a connected CI)." >&2
    exit 3
fi
exit $status
