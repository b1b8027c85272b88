#!/usr/bin/env bash
# Makes .venv ready for the README's commands on a machine where nothing was installed by
# hand. Idempotent and cheap when nothing changed: a stamp keyed on the hash of
# pyproject.toml and this script skips the installs.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${DMS_VENV:-.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.dms-bootstrap"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

log="$venv/bootstrap.log"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
: > "$log"
pipi() {
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" >>"$log" 2>&1; then
        echo "bootstrap: 'pip install $*' failed; the end of $log:" >&2
        grep -v '^WARNING: Location' "$log" | tail -30 >&2
        exit 1
    fi
}
echo "bootstrap: setting up $venv (log: $log)" >&2
# torch first and pinned exactly: 2.13.0 is the CPU wheel; a looser spec would pull
# several GB of CUDA packages. The train extra's looser pin then installs nothing more.
pipi "torch==2.13.0"
pipi -e ".[train,cpu,dev,fleet,report]"
# Type stubs for mypy on the TensorRT code. --no-deps: the stubs' metadata requires
# tensorrt itself, which cannot be installed outside a Jetson / NVIDIA index.
pipi --no-deps "tensorrt-stubs==10.13.0.35.1"
# ...which ship without py.typed and with a few lines that do not parse: a repaired copy
# in .typings/ (pyproject's mypy_path) lets mypy check the TensorRT calls for real.
"$venv/bin/python" scripts/trt_stubs_for_mypy.py >>"$log" 2>&1
# The MQTT broker the uploader's tests run against (tests/fleet): Debian's mosquitto, when
# this machine lets us install it; the tests skip, saying so, where it is not there.
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bootstrap: installing mosquitto (apt) for the uploader's broker tests" >&2
        apt-get install -y --no-install-recommends mosquitto >>"$log" 2>&1 \
            || { apt-get update >>"$log" 2>&1 && apt-get install -y --no-install-recommends mosquitto >>"$log" 2>&1; } \
            || echo "bootstrap: mosquitto could not be installed: the broker tests will be skipped" >&2
    else
        echo "bootstrap: mosquitto is not installed (needs root and apt): the broker tests will be skipped" >&2
    fi
fi
echo "$want" > "$stamp"
echo "bootstrap: done" >&2
