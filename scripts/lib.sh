# Shared setup for scripts/demo and scripts/test: host packages and the project virtualenv.
# Sourced, not run. Works on a fresh Debian/Ubuntu machine as root; idempotent and quick when done before.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CALLCONTROL_VENV:-$REPO_ROOT/.venv}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "This needs root (it installs apt packages and runs Asterisk in a chroot). Try: sudo $0 $*" >&2
    exit 1
  fi
}

install_host_packages() {
  # debootstrap builds the Asterisk 22 sandbox (Debian sid chroot); sip-tester is SIPp 3.6 (test callers).
  local wanted=(debootstrap sip-tester ca-certificates)
  wanted+=(graphviz)  # `callcontrol flows graph` and GET /api/flows/{id}/graph draw SVG with Graphviz's dot
  # Debian's python3 needs python3-venv for virtualenvs; another python3 (e.g. pyenv) has venv built in.
  command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || wanted+=(python3 python3-venv)
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

setup_venv() {
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "callcontrol needs Python >= 3.11; python3 here is $(python3 --version 2>&1)" >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(cat "$REPO_ROOT/setup.cfg" "$REPO_ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -e "$stamp" ]; then
    say "installing callcontrol and its dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$VENV/bin/python" -m pip install -q -e "$REPO_ROOT[test]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$VENV/bin/python" -c 'import callcontrol.cli, panoramisk, asterisk.config, sqlalchemy, aiohttp, pytest' \
      || { echo "virtualenv install failed" >&2; exit 1; }
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}
