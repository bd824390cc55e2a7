# Sourced by ./cw. Installs what the project needs, idempotently, and only what is missing.
# shellcheck shell=bash
VENV="${CW_VENV:-$ROOT/.venv}"
VENV_TRAIN="${CW_VENV_TRAIN:-$ROOT/.venv-train}"

# Debian package -> a file that proves it is installed.
declare -A SYSTEM_PACKAGES=(
  [mosquitto]=/usr/sbin/mosquitto
  [mosquitto-clients]=/usr/bin/mosquitto_pub
  [fonts-wqy-microhei]=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
)
# The CJK fonts the synthetic pause signs are rendered in (models/data/signs.py): training renders them,
# and so do the tests of the sign data (training and holdout font families, glyph coverage).
declare -A SIGN_FONT_PACKAGES=(
  [fonts-arphic-ukai]=/usr/share/fonts/truetype/arphic/ukai.ttc
  [fonts-arphic-uming]=/usr/share/fonts/truetype/arphic/uming.ttc
  [fonts-noto-cjk]=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
  [fonts-wqy-zenhei]=/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
  [fonts-lxgw-wenkai]=/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf
)
declare -A TEST_PACKAGES=(
  [chromium]=/usr/bin/chromium
  [postgresql]=/usr/lib/postgresql
)

log() { printf '\033[1;34m[counterwatch]\033[0m %s\n' "$*" >&2; }

_apt_install() {
  local -n pkgs=$1; local missing=()
  for p in "${!pkgs[@]}"; do [ -e "${pkgs[$p]}" ] || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      log "missing system packages: ${missing[*]} (no root): install them with apt-get"; return 0; fi
  fi
  if ! command -v apt-get >/dev/null; then log "not Debian/Ubuntu: install ${missing[*]} yourself"; return 0; fi
  log "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

_python() {
  for py in python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return; fi
  done
  log "Python 3.11+ is required"; exit 1
}

_venv() {  # _venv DIR EXTRAS
  local dir=$1 extras=$2 stamp
  stamp="$dir/.cw-stamp-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras//,/_}"
  [ -f "$stamp" ] && return 0
  if [ ! -x "$dir/bin/python" ]; then
    log "creating virtualenv $dir"
    "$(_python)" -m venv "$dir" || { _apt_install_venv; "$(_python)" -m venv "$dir"; }
  fi
  log "installing counterwatch[$extras] into $dir"
  "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$dir/bin/python" -m pip install -q -e ".[$extras]"
  rm -f "$dir"/.cw-stamp-*; touch "$stamp"
}

_apt_install_venv() { declare -A v=([python3-venv]=/usr/lib/python3/dist-packages/venv); _apt_install v; }

cw_setup() {
  local what=${1:-runtime}
  _apt_install SYSTEM_PACKAGES
  case "$what" in
    runtime) _venv "$VENV" ocr ;;
    test)    _apt_install TEST_PACKAGES; _apt_install SIGN_FONT_PACKAGES; _venv "$VENV" ocr,test ;;
    train)   _apt_install SIGN_FONT_PACKAGES; _venv "$VENV_TRAIN" train ;;
    *) log "unknown setup target $what"; exit 2 ;;
  esac
}
