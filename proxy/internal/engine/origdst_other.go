//go:build !linux

package engine

import "net/netip"

// getOriginalDst: iptables capture is Linux-only; elsewhere no connection
// is ever redirected.
func getOriginalDst(int, bool) (netip.AddrPort, bool) { return netip.AddrPort{}, false }
