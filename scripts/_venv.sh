# Shared by scripts/test and scripts/demo: make .venv with Python >= 3.13 and install a requirements
# file into it (once per version of the file).

find_python() {
  local candidate
  for candidate in "${P1_PYTHON:-}" python3.13 python3.14 python3 \
      "$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13"; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    local python
    python=$(find_python) || {
      echo "Python 3.13 or newer is needed (Home Assistant requires it); install it or set P1_PYTHON" >&2
      exit 2
    }
    echo "creating .venv with $python"
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  local requirements
  for requirements in "$@"; do
    local stamp=.venv/.installed.$(basename "$requirements").$(sha256sum "$requirements" | cut -c1-16)
    if [ ! -f "$stamp" ]; then
      echo "installing $requirements into .venv"
      .venv/bin/python -m pip install --quiet -r "$requirements"
      touch "$stamp"
    fi
  done
}
