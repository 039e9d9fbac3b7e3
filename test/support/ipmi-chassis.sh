#!/bin/sh
# The "hardware" behind a test BMC: ipmi_sim's chassis_control program.
#   ipmi-chassis.sh <dir> get power          -> prints power:0|1
#   ipmi-chassis.sh <dir> set <parm> <value> -> power 0|1, reset 1, shutdown 1 (soft-off request)
# Every call is appended to <dir>/calls, the power state lives in <dir>/power.
dir=$1; op=$2; shift 2
echo "$op $*" >> "$dir/calls"
if [ "$op" = get ]; then
  for p in "$@"; do
    case $p in
      power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)" ;;
      boot) echo "boot:default" ;;
      *) echo "unknown parameter $p"; exit 1 ;;
    esac
  done
  exit 0
fi
while [ -n "$1" ]; do
  case $1 in
    power) echo "$2" > "$dir/power" ;;
  esac
  shift 2
done
