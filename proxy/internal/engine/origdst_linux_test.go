package engine

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

// sockaddrIn lays out a struct sockaddr_in as the kernel writes it.
func sockaddrIn(family uint16, ip string, port uint16) *[16]byte {
	var b [16]byte
	binary.NativeEndian.PutUint16(b[0:2], family)
	binary.BigEndian.PutUint16(b[2:4], port)
	a4 := netip.MustParseAddr(ip).As4()
	copy(b[4:8], a4[:])
	return &b
}

func TestDecodeSockaddrIn(t *testing.T) {
	got, ok := decodeSockaddrIn(sockaddrIn(syscall.AF_INET, "10.96.0.10", 8080))
	if want := netip.MustParseAddrPort("10.96.0.10:8080"); !ok || got != want {
		t.Fatalf("decode = %v %v, want %v", got, ok, want)
	}
	// Byte order: 0x1F90 = 8080 must not come out as 0x901F = 36895.
	got, _ = decodeSockaddrIn(sockaddrIn(syscall.AF_INET, "192.168.1.2", 443))
	if got.Port() != 443 || got.Addr() != netip.MustParseAddr("192.168.1.2") {
		t.Fatalf("decode = %v", got)
	}
	if _, ok := decodeSockaddrIn(sockaddrIn(syscall.AF_INET6, "10.0.0.1", 80)); ok {
		t.Error("wrong family accepted")
	}
	if _, ok := decodeSockaddrIn(sockaddrIn(syscall.AF_INET, "10.0.0.1", 0)); ok {
		t.Error("port 0 accepted")
	}
	if _, ok := decodeSockaddrIn(&[16]byte{}); ok {
		t.Error("zero sockaddr accepted")
	}
}

func TestDecodeSockaddrIn6(t *testing.T) {
	mk := func(family uint16, ip string, port uint16) *syscall.RawSockaddrInet6 {
		var p [2]byte
		binary.BigEndian.PutUint16(p[:], port)
		return &syscall.RawSockaddrInet6{
			Family: family,
			Port:   binary.NativeEndian.Uint16(p[:]), // network order bytes, read in host order
			Addr:   netip.MustParseAddr(ip).As16(),
		}
	}
	got, ok := decodeSockaddrIn6(mk(syscall.AF_INET6, "fd00::10", 8080))
	if want := netip.MustParseAddrPort("[fd00::10]:8080"); !ok || got != want {
		t.Fatalf("decode = %v %v, want %v", got, ok, want)
	}
	got, ok = decodeSockaddrIn6(mk(syscall.AF_INET6, "::ffff:10.96.0.10", 80))
	if want := netip.MustParseAddrPort("10.96.0.10:80"); !ok || got != want {
		t.Fatalf("mapped decode = %v %v, want %v", got, ok, want)
	}
	if _, ok := decodeSockaddrIn6(mk(syscall.AF_INET, "fd00::10", 80)); ok {
		t.Error("wrong family accepted")
	}
	if _, ok := decodeSockaddrIn6(mk(syscall.AF_INET6, "fd00::10", 0)); ok {
		t.Error("port 0 accepted")
	}
}

// A connection nothing redirected: the getsockopt fails (no conntrack
// entry) or names the connection's own address; either way it is not
// reported as redirected.
func TestGetOriginalDstNotRedirected(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Logf("%s: %v (skipped)", network, err)
			continue
		}
		client, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		local, _ := tcpAddrPort(c.LocalAddr())
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var dst netip.AddrPort
		var redirected bool
		_ = raw.Control(func(fd uintptr) {
			dst, redirected = getOriginalDst(int(fd), local.Addr().Is4())
		})
		if redirected && dst != local {
			t.Errorf("%s: plain connection reports original destination %v (local %v)", network, dst, local)
		}
		_ = c.Close()
		_ = client.Close()
		_ = ln.Close()
	}
}
