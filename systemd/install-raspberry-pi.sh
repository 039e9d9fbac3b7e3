#!/usr/bin/env bash
# Installs ockle as a systemd service on Raspberry Pi OS (or any Debian with systemd).
# Run from a checkout after `npm ci` (which builds dist/):
#   sudo systemd/install-raspberry-pi.sh            install for real
#   systemd/install-raspberry-pi.sh --dry-run      print what would be done, change nothing
#   systemd/install-raspberry-pi.sh --root DIR     install files under DIR (a throwaway root)
# It never overwrites an existing /etc/ockle configuration, and never switches an outlet.
set -euo pipefail

root=""
dry=0
prefix=/opt/ockle
src="$(cd "$(dirname "$0")/.." && pwd)"

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --source) src="${2:?--source needs a directory}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

say() { printf '%s\n' "$*"; }
# run: changes to the real system; printed only with --dry-run or --root.
run() {
  if [ "$dry" = 1 ] || [ -n "$root" ]; then say "would run: $*"; else say "+ $*"; "$@"; fi
}
# put: file changes, applied under --root, printed with --dry-run.
put() {
  if [ "$dry" = 1 ]; then say "would: $*"; else "$@"; fi
}

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
}
if ! node_ok; then
  echo "install: Node.js >= 20.19 is needed (apt install nodejs npm on Raspberry Pi OS trixie)" >&2
  exit 1
fi
if [ ! -f "$src/dist/src/cli/main.js" ]; then
  echo "install: $src/dist is missing; run 'npm ci' in the checkout first (it builds dist/)" >&2
  exit 1
fi
if [ -z "$root" ] && [ "$dry" = 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install: run as root (sudo), or use --dry-run / --root DIR" >&2
  exit 1
fi

app="$root$prefix"
etc="$root/etc/ockle"
unit="$root/etc/systemd/system/ockle.service"

# 1. The service user, in the groups that own GPIO and serial devices when they exist.
if id ockle >/dev/null 2>&1; then
  say "user ockle exists"
else
  groups=""
  for g in gpio dialout; do getent group "$g" >/dev/null 2>&1 && groups="${groups:+$groups,}$g"; done
  run useradd --system --no-create-home --shell /usr/sbin/nologin ${groups:+--groups "$groups"} ockle
fi

# 2. The application (built JS + production dependencies).
put mkdir -p "$app"
put cp -r "$src/package.json" "$src/package-lock.json" "$src/dist" "$app/"
put mkdir -p "$app/config-example"
put cp -r "$src/config/." "$app/config-example/"
if [ -z "$root" ]; then run npm ci --omit=dev --ignore-scripts --prefix "$app"; else say "would run: npm ci --omit=dev --ignore-scripts --prefix $prefix"; fi

# 3. Configuration: only when there is none yet. The state directory comes from systemd.
if [ -f "$etc/ockle.ini" ]; then
  say "keeping the existing configuration in ${etc#"$root"}/ (not overwritten)"
else
  put mkdir -p "$etc"
  put cp -r "$src/config/." "$etc/"
  if [ "$dry" = 0 ]; then
    # The daemon's StateDirectory; written out so the CLI finds the token there too.
    sed -i 's|^state_dir = .*|state_dir = /var/lib/ockle|' "$etc/ockle.ini"
  else
    say "would: set state_dir = /var/lib/ockle in ${etc#"$root"}/ockle.ini"
  fi
  say "installed the demo configuration (simulated hardware) in ${etc#"$root"}/: edit it for your lab"
fi

# 4. The unit.
put mkdir -p "$(dirname "$unit")"
if [ "$dry" = 0 ]; then sed "s|/opt/ockle|$prefix|g" "$src/systemd/ockle.service" > "$unit"; else say "would: write $unit"; fi
# The CLI on the PATH.
put mkdir -p "$root/usr/local/bin"
put chmod +x "$app/dist/src/cli/main.js"
put ln -sfn "$prefix/dist/src/cli/main.js" "$root/usr/local/bin/ockle"
run systemctl daemon-reload
run systemctl enable ockle.service

say ""
say "ockle is installed. Start it with:  systemctl start ockle"
say "logs: journalctl -u ockle -f     check the config: ockle config check /etc/ockle"
say "the local admin token for the CLI is in /var/lib/ockle/api-token (root and ockle only)"
