package route

import (
	"net"
	"net/netip"
)

// hostEntry is what a host name or cluster IP resolves to: the Service's
// routable ports, and the one a Host header without a port means.
type hostEntry struct {
	ports []*Service
	def   *Service // port 80 if present, else the only port; may be nil
}

// port returns the Service port numbered p, or def when p < 0 (no port given).
func (h *hostEntry) port(p int) *Service {
	if h == nil {
		return nil
	}
	if p < 0 {
		return h.def
	}
	for _, s := range h.ports {
		if s.Port == p {
			return s
		}
	}
	return nil
}

// Lookup resolves a Host header value to a Service port. Accepted forms,
// case-insensitive, with an optional trailing dot and optional ":port":
// name (in the Proxy's namespace), name.ns, name.ns.svc,
// name.ns.svc.<cluster domain>, and the Service's cluster IP (IPv6 in
// brackets). Without a port the Service's port 80 is used if it has one,
// else its only port if it has exactly one; otherwise, or if the named port
// does not exist, Lookup returns nil. It does not allocate.
func (t *Table) Lookup(host []byte) *Service {
	h, port, ok := splitHost(host)
	if !ok {
		return nil
	}
	if len(h) > 0 && h[0] == '[' { // IPv6 literal
		ip, ok := parseIPv6(h[1 : len(h)-1])
		if !ok {
			return nil
		}
		return t.addrs[ip.Unmap()].port(port)
	}
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	if len(h) == 0 || len(h) > 253 {
		return nil
	}
	if ip, ok := parseIPv4(h); ok {
		return t.addrs[ip].port(port)
	}
	var buf [256]byte
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return t.hosts[string(buf[:len(h)])].port(port)
}

// LookupAddr resolves a Service port by cluster IP and port (the original
// destination of a transparently captured connection). ip may be 4 or 16
// bytes; IPv4-mapped IPv6 addresses match IPv4 cluster IPs. It does not
// allocate.
func (t *Table) LookupAddr(ip net.IP, port int) *Service {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 {
		return nil
	}
	return t.addrs[addr.Unmap()].port(port)
}

// LookupAddrPort is LookupAddr for a netip.AddrPort, the form the engine
// keeps the original destination of a redirected connection in. It does not
// allocate.
func (t *Table) LookupAddrPort(ap netip.AddrPort) *Service {
	if !ap.IsValid() || ap.Port() == 0 {
		return nil
	}
	return t.addrs[ap.Addr().Unmap()].port(int(ap.Port()))
}

// splitHost splits a Host header value into host and port (-1 if absent).
// An IPv6 literal keeps its brackets. It rejects empty hosts, bad ports and
// unbracketed IPv6.
func splitHost(b []byte) (host []byte, port int, ok bool) {
	port = -1
	if len(b) > 0 && b[0] == '[' {
		end := -1
		for i, c := range b {
			if c == ']' {
				end = i
				break
			}
		}
		if end < 2 {
			return nil, 0, false
		}
		host, b = b[:end+1], b[end+1:]
		if len(b) == 0 {
			return host, port, true
		}
		if b[0] != ':' {
			return nil, 0, false
		}
		port, ok = parsePort(b[1:])
		return host, port, ok
	}
	colon := -1
	for i, c := range b {
		if c == ':' {
			if colon >= 0 {
				return nil, 0, false // unbracketed IPv6 is not a valid Host
			}
			colon = i
		}
	}
	if colon < 0 {
		return b, port, len(b) > 0
	}
	port, ok = parsePort(b[colon+1:])
	return b[:colon], port, ok && colon > 0
}

// parsePort parses 1-65535 from decimal digits.
func parsePort(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= 65535
}

// parseIPv6 parses an IPv6 address without zone (RFC 4291 text form,
// including "::" and a trailing dotted quad). netip.ParseAddr would need a
// string, and converting the Host bytes to one allocates.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // byte index in ip where "::" was
	i, n := 0, 0   // position in b, bytes of ip filled
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis, i = 0, 2
		if i == len(b) {
			return netip.IPv6Unspecified(), true
		}
	}
	for n < 16 {
		// A hex group, or a dotted quad at the end.
		val, digits := 0, 0
		for j := i; j < len(b) && digits < 5; j++ {
			d, ok := unhex(b[j])
			if !ok {
				break
			}
			val = val<<4 | int(d)
			digits++
		}
		if digits == 0 || digits > 4 {
			return netip.Addr{}, false
		}
		if end := i + digits; end < len(b) && b[end] == '.' {
			if ellipsis < 0 && n != 12 || n > 12 {
				return netip.Addr{}, false
			}
			v4, ok := parseIPv4(b[i:])
			if !ok {
				return netip.Addr{}, false
			}
			a4 := v4.As4()
			copy(ip[n:], a4[:])
			n += 4
			i = len(b)
			break
		}
		ip[n], ip[n+1] = byte(val>>8), byte(val)
		n += 2
		i += digits
		if i == len(b) {
			break
		}
		if b[i] != ':' || i+1 == len(b) {
			return netip.Addr{}, false
		}
		i++
		if b[i] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = n
			i++
			if i == len(b) {
				break
			}
		}
	}
	if i != len(b) {
		return netip.Addr{}, false
	}
	if n < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		shift := 16 - n
		copy(ip[ellipsis+shift:], ip[ellipsis:n])
		clear(ip[ellipsis : ellipsis+shift])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false // "::" must stand for at least one group
	}
	return netip.AddrFrom16(ip), true
}

// parseIPv4 parses a dotted-quad IPv4 address (no leading zeros, as netip),
// so that the common IP-literal Host needs no string conversion.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	field, digits, val := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || field > 3 {
				return netip.Addr{}, false
			}
			ip[field] = byte(val)
			field, digits, val = field+1, 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' || digits > 0 && val == 0 {
			return netip.Addr{}, false
		}
		val = val*10 + int(c-'0')
		digits++
		if val > 255 {
			return netip.Addr{}, false
		}
	}
	if field != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}
