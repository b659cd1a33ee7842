package engine

import (
	"encoding/binary"
	"net/netip"
	"syscall"
)

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>;
// the syscall package does not name them.
const (
	soOriginalDst     = 80 // SO_ORIGINAL_DST, level SOL_IP
	ip6tSoOriginalDst = 80 // IP6T_SO_ORIGINAL_DST, level SOL_IPV6
)

// getOriginalDst asks conntrack for the original destination of the
// connection on fd: SO_ORIGINAL_DST for an IPv4 connection (including
// IPv4 on a dual-stack socket), IP6T_SO_ORIGINAL_DST for IPv6. The kernel
// writes a sockaddr_in or sockaddr_in6; the syscall package's fixed-size
// getters of a large enough struct carry it out (IPv6Mreq is 20 bytes,
// sockaddr_in 16; IPv6MTUInfo starts with a RawSockaddrInet6).
func getOriginalDst(fd int, ipv4 bool) (netip.AddrPort, bool) {
	if ipv4 {
		m, err := syscall.GetsockoptIPv6Mreq(fd, syscall.SOL_IP, soOriginalDst)
		if err != nil {
			return netip.AddrPort{}, false
		}
		return decodeSockaddrIn(&m.Multiaddr)
	}
	info, err := syscall.GetsockoptIPv6MTUInfo(fd, syscall.SOL_IPV6, ip6tSoOriginalDst)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return decodeSockaddrIn6(&info.Addr)
}

// decodeSockaddrIn decodes a struct sockaddr_in: sin_family in host byte
// order, sin_port in network byte order, then the 4-byte address.
func decodeSockaddrIn(b *[16]byte) (netip.AddrPort, bool) {
	if binary.NativeEndian.Uint16(b[0:2]) != syscall.AF_INET {
		return netip.AddrPort{}, false
	}
	port := binary.BigEndian.Uint16(b[2:4])
	if port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), true
}

// decodeSockaddrIn6 decodes a struct sockaddr_in6. Its Port field holds the
// network-byte-order bytes as read in host order.
func decodeSockaddrIn6(sa *syscall.RawSockaddrInet6) (netip.AddrPort, bool) {
	if sa.Family != syscall.AF_INET6 {
		return netip.AddrPort{}, false
	}
	var p [2]byte
	binary.NativeEndian.PutUint16(p[:], sa.Port)
	port := binary.BigEndian.Uint16(p[:])
	if port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port), true
}
