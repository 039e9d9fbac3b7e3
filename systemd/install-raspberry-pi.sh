#!/usr/bin/env bash
# Installs ockle as a systemd service on Raspberry Pi OS (or any Debian with systemd).
# Run it from a checkout after `npm ci && npm run build`:
#   sudo systemd/install-raspberry-pi.sh             install for real
#   systemd/install-raspberry-pi.sh --dry-run       print every action, change nothing
# Options:
#   --root DIR     write the files under DIR (a throwaway root); user creation, ownership,
#                  npm ci and systemctl are printed, not run (they need the real system)
#   --prefix DIR   where the application goes (default /opt/ockle)
#   --source DIR   the built checkout to install from (default: this script's checkout)
#   --dry-run      print every action and change nothing
#   -h, --help     this help
# Safe to run again (upgrades the application). It never overwrites an existing /etc/ockle
# configuration and never switches an outlet.
set -euo pipefail

root=""
dry=0
prefix=/opt/ockle
src="$(cd "$(dirname "$0")/.." && pwd)"

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
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
case "$prefix" in
  /*) ;;
  *) echo "install: --prefix must be an absolute path (got $prefix)" >&2; exit 2 ;;
esac
if [ -n "$root" ]; then
  [ "$dry" = 1 ] || mkdir -p "$root"
  if [ -d "$root" ]; then root="$(cd "$root" && pwd)"; fi
fi

say() { printf '%s\n' "$*"; }
# sys: changes to the real system (users, ownership, npm, systemctl): printed with --dry-run or --root.
sys() {
  if [ "$dry" = 1 ] || [ -n "$root" ]; then say "would run: $*"; else say "+ $*"; "$@"; fi
}
# put: file changes: applied (under --root if given), printed with --dry-run.
put() {
  if [ "$dry" = 1 ]; then say "would run: $*"; else "$@"; fi
}

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
}
if ! node_ok; then
  found="$(node --version 2>/dev/null || echo none)"
  echo "install: Node.js >= 20.19 is needed (found: $found). On Raspberry Pi OS: sudo apt install nodejs npm" >&2
  exit 1
fi
if [ ! -f "$src/dist/src/cli/main.js" ]; then
  echo "install: $src/dist is missing; run 'npm ci && npm run build' in the checkout first" >&2
  exit 1
fi
if [ ! -f "$src/dist/bundle/main.js" ]; then
  echo "install: $src/dist/bundle (the daemon's bundled build) is missing; run 'npm run build' in the checkout" >&2
  exit 1
fi
if [ ! -f "$src/dist/web/index.html" ]; then
  echo "install: $src/dist/web (the dashboard) is missing; run 'npm run build' in the checkout (it builds both)" >&2
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
groups=()
for g in gpio dialout; do
  if getent group "$g" >/dev/null 2>&1; then groups+=("$g"); else say "no group $g on this machine: ockle runs without it"; fi
done
group_list="$(IFS=,; printf '%s' "${groups[*]}")"
if id ockle >/dev/null 2>&1; then
  say "user ockle exists"
  [ -z "$group_list" ] || sys usermod --append --groups "$group_list" ockle
else
  sys useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    ${group_list:+--groups "$group_list"} ockle
fi

# 2. The application: built JS, docs, the example configuration, production dependencies.
#    dist/ is replaced, not merged, so an upgrade leaves no stale modules behind.
put mkdir -p "$app"
put rm -rf "$app/dist" "$app/config-example"
put cp -r "$src/package.json" "$src/package-lock.json" "$src/dist" "$app/"
put cp -r "$src/config" "$app/config-example"
if [ -d "$src/docs" ]; then put rm -rf "$app/docs"; put cp -r "$src/docs" "$app/docs"; fi
put chmod +x "$app/dist/src/cli/main.js"
sys npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefix "$prefix"

# 3. Configuration: only when there is none yet. state_dir is written out (rather than left
#    empty for $STATE_DIRECTORY) so that `sudo ockle …` outside the unit finds the token too.
if [ -f "$etc/ockle.ini" ]; then
  say "keeping the existing configuration in /etc/ockle (not overwritten; the example is in $prefix/config-example)"
else
  put mkdir -p "$etc"
  put cp -r "$src/config/." "$etc/"
  if [ "$dry" = 1 ]; then
    say "would set: state_dir = /var/lib/ockle in /etc/ockle/ockle.ini"
  else
    sed -i 's|^state_dir *=.*|state_dir = /var/lib/ockle|' "$etc/ockle.ini"
  fi
  # The configuration holds device passwords and tokens: root writes it, ockle reads it.
  sys chown -R root:ockle /etc/ockle
  sys chmod -R u=rwX,g=rX,o= /etc/ockle
  say "installed the demo configuration (simulated hardware) in /etc/ockle: edit it for your lab"
fi

# 4. The unit, with this prefix and without groups the machine does not have.
put mkdir -p "$(dirname "$unit")"
if [ "$dry" = 1 ]; then
  say "would write: $unit (ExecStart from $prefix, SupplementaryGroups=${groups[*]:-none})"
else
  if [ ${#groups[@]} -gt 0 ]; then sg="SupplementaryGroups=${groups[*]}"; else sg=""; fi
  sed -e "s|/opt/ockle|$prefix|g" -e "s|^SupplementaryGroups=.*|$sg|" "$src/systemd/ockle.service" > "$unit.tmp"
  mv "$unit.tmp" "$unit"
fi
# The CLI on the PATH.
put mkdir -p "$root/usr/local/bin"
put ln -sfn "$prefix/dist/src/cli/main.js" "$root/usr/local/bin/ockle"
sys systemctl daemon-reload
sys systemctl enable ockle.service

say ""
if [ "$dry" = 1 ]; then say "dry run: nothing was changed. After a real install:"
else say "ockle is installed and enabled (not started). Next:"; fi
say "  check the configuration:  sudo ockle config check /etc/ockle"
say "  start it:                 sudo systemctl start ockle"
say "  status and logs:          systemctl status ockle; journalctl -u ockle -f"
say "  apply config changes:     sudo systemctl reload ockle (only a configuration that validates is applied)"
say "The local admin token for the CLI is written on start to /var/lib/ockle/api-token (readable by root and ockle only)."
