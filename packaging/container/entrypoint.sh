#!/bin/sh
# Container entrypoint: profiles the host (hostPID) or the pod (shareProcessNamespace),
# writing to /var/lib/perfagent/profiles unless told otherwise. Arguments are perfagent's
# options; "doctor" and "explain" run the diagnostics instead. The environment variable
# PERFAGENT_OPTIONS adds options (a DaemonSet's env), before the arguments.
set -eu

PERFAGENT=${PERFAGENT:-/usr/bin/perfagent}
state=${PERFAGENT_STATE_DIR:-/var/lib/perfagent}

case "${1:-}" in
doctor|explain|--help|-h|--version|-V)
	exec "$PERFAGENT" "$@"
	;;
esac

# Without hostPID or a shared process namespace, the container sees only itself: say so
# instead of profiling nothing.
if [ "$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)" -le 3 ] && [ -z "${PERFAGENT_ALLOW_ALONE:-}" ]; then
	echo "perfagent: warning: this container sees only its own processes: run it with" \
	     "hostPID: true (DaemonSet) or shareProcessNamespace: true (sidecar)" >&2
fi

if [ ! -w "$state" ]; then
	echo "perfagent: error: $state is not writable by uid $(id -u): mount a volume there" >&2
	exit 1
fi

# Container runtimes stop with SIGTERM: exec so perfagent gets it and writes the last window.
# shellcheck disable=SC2086
exec "$PERFAGENT" --output-dir "$state/profiles" --http-address "${PERFAGENT_HTTP_ADDRESS:-:7071}" \
	${PERFAGENT_OPTIONS:-} "$@"
