#!/usr/bin/env bash
# Run the app locked down with plain Linux namespaces (what compose.yaml does with Docker), no Docker needed:
# new mount and PID namespaces; the whole root filesystem read-only; fresh tmpfs on the ephemeral root and /tmp;
# only the voice store bound read-write; uid/gid 10001 with no new privileges, no capabilities, no groups.
# LINLY_OFFLINE=1 adds a network namespace with loopback only: nothing can leave the machine (reach the app from
# inside it: nsenter --net=/proc/<app pid>/ns/net ...).
set -euo pipefail

APP_UID=${LINLY_HARDENED_UID:-10001}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
VOICE_STORE="${LINLY_VOICE_STORE:-$REPO/.hardened-voices}"
EPHEMERAL=/dev/shm/linly
EPHEMERAL_SIZE=${LINLY_HARDENED_TMPFS_SIZE:-1g}

if [ "$(id -u)" -ne 0 ]; then
    echo "run-hardened: needs root (to create mount/PID/network namespaces, remount / read-only and drop to uid" >&2
    echo "$APP_UID). Run it with sudo, or use compose.yaml with Docker/Podman. Nothing was started." >&2
    exit 2
fi
for tool in unshare setpriv mount; do
    command -v "$tool" >/dev/null || { echo "run-hardened: '$tool' (util-linux) is missing" >&2; exit 2; }
done
[ -x "$PYTHON" ] || { echo "run-hardened: $PYTHON not found; run 'make run' or 'make test' once first" >&2; exit 2; }

case "$VOICE_STORE" in
    /tmp|/tmp/*|/dev/shm|/dev/shm/*)
        echo "run-hardened: LINLY_VOICE_STORE must be on persistent storage, not under /tmp or /dev/shm" >&2
        exit 2;;
esac
mkdir -p "$VOICE_STORE"
chown "$APP_UID:$APP_UID" "$VOICE_STORE"
chmod 0700 "$VOICE_STORE"

namespaces=(--mount --pid --fork --kill-child)
if [ "${LINLY_OFFLINE:-0}" = "1" ]; then
    namespaces+=(--net)
fi

# The interpreter may live where uid 10001 cannot reach (e.g. pyenv under /root, mode 0700): inside the namespace,
# the closed ancestor is covered by a tmpfs that exposes only the interpreter's folder, read-only.
PY_PREFIX="$("$PYTHON" -c 'import sys; print(sys.base_prefix)')"
CLOSED=""
probe="$PY_PREFIX"
while [ "$probe" != "/" ]; do
    probe="$(dirname "$probe")"
    if [ "$(( $(stat -c '%a' "$probe") % 10 & 1 ))" -eq 0 ]; then CLOSED="$probe"; fi
done

export REPO PYTHON VOICE_STORE EPHEMERAL EPHEMERAL_SIZE APP_UID PY_PREFIX CLOSED
exec unshare "${namespaces[@]}" bash -c '
    set -euo pipefail
    [ "${LINLY_OFFLINE:-0}" = "1" ] && ip link set lo up
    mount --make-rprivate /
    mount -t proc proc /proc
    # The code is run from a bind mount at /mnt/repo, so it stays visible wherever it lives (even under /tmp,
    # which gets a fresh tmpfs below).
    mount -t tmpfs -o size=1m,mode=0755 tmpfs /mnt
    mkdir /mnt/repo && mount --bind "$REPO" /mnt/repo
    case "$PYTHON" in "$REPO"/*) PYTHON="/mnt/repo/${PYTHON#"$REPO"/}";; esac
    if [ -n "$CLOSED" ]; then
        mkdir /mnt/python && mount --bind "$PY_PREFIX" /mnt/python
        mount -t tmpfs -o size=1m,mode=0755 tmpfs "$CLOSED"
        mkdir -p "$PY_PREFIX" && mount --bind /mnt/python "$PY_PREFIX"
    fi
    # Every existing mount becomes read-only in this namespace (deepest last, so none is hidden).
    for target in $(awk "{print \$5}" /proc/self/mountinfo | sort -u); do
        mount -o remount,bind,ro "$target" 2>/dev/null || true
    done
    mount -t tmpfs -o "size=$EPHEMERAL_SIZE,mode=1777,nosuid,nodev,noexec" tmpfs /dev/shm
    mkdir -m 0700 "$EPHEMERAL" && chown "$APP_UID:$APP_UID" "$EPHEMERAL"
    mount -t tmpfs -o "size=256m,mode=1777,nosuid,nodev,noexec" tmpfs /tmp
    mount --bind "$VOICE_STORE" "$VOICE_STORE"
    mount -o remount,bind,rw "$VOICE_STORE"
    cd /mnt/repo
    setpriv --reuid="$APP_UID" --regid="$APP_UID" --clear-groups --no-new-privs \
        --bounding-set=-all --inh-caps=-all --ambient-caps=-all \
        env -i PATH=/usr/bin:/bin HOME=/tmp NUMBA_CACHE_DIR=/tmp MPLCONFIGDIR=/tmp PYTHONDONTWRITEBYTECODE=1 \
        LINLY_EPHEMERAL_DIR="$EPHEMERAL" LINLY_VOICE_STORE="$VOICE_STORE" LINLY_WIPE_ON_EXIT=1 \
        LINLY_HOST="${LINLY_HOST:-127.0.0.1}" LINLY_PORT="${LINLY_PORT:-7860}" \
        LINLY_TTL_SECONDS="${LINLY_TTL_SECONDS:-300}" LINLY_AUDIT_LOG="${LINLY_AUDIT_LOG:--}" \
        LINLY_SECRET_KEY="${LINLY_SECRET_KEY:-}" \
        "$PYTHON" app.py &
    app=$!
    trap "kill -TERM $app 2>/dev/null" TERM INT
    status=0
    wait $app || status=$?
    wait $app 2>/dev/null || true
    left=0
    if [ -d "$EPHEMERAL" ]; then left=$(find "$EPHEMERAL" -mindepth 1 | wc -l); fi
    echo "run-hardened: the app exited with status $status; entries left in the ephemeral root: $left" >&2
'
