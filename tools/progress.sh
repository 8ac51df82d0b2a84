# shellcheck shell=bash
# Sourced by the tools' scripts: progress lines that count seconds from
# one start, shared with child scripts and tools/demo.py through
# $NOVA_DOCKER_DEMO_T0 (seconds.nanoseconds since the epoch): tools/lib.sh
# with the seconds as the prefix of say, err and die, and step for say.
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -z "${NOVA_DOCKER_DEMO_T0:-}" ]; then
    _now=$(date +%s%N)
    export NOVA_DOCKER_DEMO_T0="${_now:0:-9}.${_now: -9}"
fi
_t0_ns=${NOVA_DOCKER_DEMO_T0/./}

elapsed() {
    local ms=$(( ($(date +%s%N) - _t0_ns) / 1000000 ))
    printf '[%4d.%ds]' $((ms / 1000)) $((ms % 1000 / 100))
}
say_prefix() { elapsed; }
step() { say "$@"; }
