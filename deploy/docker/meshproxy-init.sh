#!/bin/sh
# meshproxy-init: applies the pod's nat rules, given as iptables-restore
# input in MESHPROXY_CAPTURE_RULES, without flushing what is there, then
# prints the nat table so `kubectl logs -c meshproxy-init` shows the result.
#
#   MESHPROXY_CAPTURE_RULES  the rules (required)
#   IPTABLES_MODE            auto (default: nft if the nft variant works, else legacy), nft or legacy
#   MESHPROXY_INIT_DRY_RUN   1: print the rules and the command, change nothing
set -eu

rules=${MESHPROXY_CAPTURE_RULES:-}
if [ -z "$rules" ]; then
	echo "meshproxy-init: MESHPROXY_CAPTURE_RULES is empty" >&2
	exit 2
fi

mode=${IPTABLES_MODE:-auto}
case "$mode" in
nft | legacy) ;;
auto)
	if command -v iptables-nft >/dev/null 2>&1 && iptables-nft -t nat -S >/dev/null 2>&1; then
		mode=nft
	elif command -v iptables-legacy >/dev/null 2>&1; then
		mode=legacy
	else
		mode=plain
	fi
	;;
*)
	echo "meshproxy-init: IPTABLES_MODE=$mode: want auto, nft or legacy" >&2
	exit 2
	;;
esac
if [ "$mode" = plain ]; then
	restore=iptables-restore save=iptables-save
else
	restore=iptables-$mode-restore save=iptables-$mode-save
fi

if [ "${MESHPROXY_INIT_DRY_RUN:-0}" = 1 ]; then
	echo "$restore --noflush <<EOF"
	printf '%s\n' "$rules"
	echo "EOF"
	exit 0
fi

printf '%s\n' "$rules" | "$restore" --noflush
"$save" -t nat
