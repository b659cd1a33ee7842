package engine

import (
	"net"
	"net/netip"

	"github.com/panjf2000/gnet/v2"
)

// Transparent (iptables-captured) outbound traffic.
//
// istio-init and linkerd-init install nat rules in the pod that REDIRECT the
// app's outgoing TCP connections to the outbound listener. The app believes
// it is connected to a Service's cluster IP and port; the kernel's conntrack
// entry still knows that original destination, and getsockopt
// SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6) reads it back. It is
// read once, when the connection is accepted, and kept as a netip.AddrPort
// on the connection; each request then selects its Service with
// route.Table.LookupAddrPort against the table current at that request, so
// the state survives config reloads and the lookup does not allocate.

// originalDst returns the original destination of an accepted outbound
// connection, and false when the connection was not redirected: the
// getsockopt fails (no conntrack entry, no nat, not Linux) or it reports
// the connection's own local address (conntrack tracks every connection
// once loaded, redirected or not). A variable so tests can stand in for
// iptables.
var originalDst = func(c gnet.Conn) (netip.AddrPort, bool) {
	local, ok := tcpAddrPort(c.LocalAddr())
	if !ok {
		return netip.AddrPort{}, false
	}
	dst, ok := getOriginalDst(c.Fd(), local.Addr().Is4())
	if !ok || dst == local {
		return netip.AddrPort{}, false
	}
	return dst, true
}

// tcpAddrPort converts a TCP address, unmapping IPv4-mapped IPv6.
func tcpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(ta.Port)), true
}
