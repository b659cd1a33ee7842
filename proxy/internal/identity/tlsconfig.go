package identity

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"sync/atomic"
)

// sessionCacheSize is how many upstream endpoints keep a resumable session.
const sessionCacheSize = 1024

// ServerConfig returns the configuration for terminating mutual TLS on the
// inbound listener. It is built once and never changes: rotation needs no new
// configuration. Use it as it is; a clone's changes would not reach the
// handshakes (see below).
//
// ClientAuth is RequestClientCert, not RequireAndVerifyClientCert: crypto/tls
// would verify host-name-style and reject a missing certificate with an error
// of its own, while VerifyConnection does the SPIFFE verification, with the CA
// bundle current at verification time, and reports every refusal as a
// *PeerError that Classify can label. It also runs on resumed sessions, on the
// client certificate kept in the ticket.
//
// Each handshake is pinned to one material: GetConfigForClient hands it the
// configuration of the material current at its ClientHello, which serves
// that material's certificate and stamps the session ticket with that
// material's number. Tickets stamped with an older number are not resumed,
// so after a reload every client does one full handshake and sees the new
// certificate. Stamping at ticket time with whatever is current instead would
// let a handshake that straddles a reload issue a ticket for the old
// certificate that outlives it. GetCertificate and VerifyConnection are set
// on this configuration too, for completeness; with GetConfigForClient they
// are not consulted.
func (s *Source) ServerConfig() *tls.Config { return s.server }

// serverProtocols are what the inbound listener offers by ALPN, preferred
// first: HTTP/2, then HTTP/1.1 for peers that do not speak it (a client
// that offers no ALPN at all gets HTTP/1.1 too).
var serverProtocols = []string{"h2", "http/1.1"}

func (s *Source) newServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: serverProtocols,
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cur.Load().cert, nil
		},
		VerifyConnection: s.verifyClient,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().server, nil
		},
	}
}

// serverConfigFor is the server configuration of one material. Tickets are
// encrypted with the keys of the configuration ServerConfig returns, which
// crypto/tls rotates daily.
func (s *Source) serverConfigFor(m *material) *tls.Config {
	outer := s.server
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		NextProtos:       serverProtocols,
		ClientAuth:       tls.RequestClientCert,
		Certificates:     []tls.Certificate{*m.cert},
		VerifyConnection: s.verifyClient,
		WrapSession: func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			ss.Extra = append(ss.Extra, genStamp(m.gen))
			return outer.EncryptTicket(cs, ss)
		},
		UnwrapSession: func(ticket []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := outer.DecryptTicket(ticket, cs)
			if ss == nil || err != nil {
				return nil, err
			}
			if !hasGenStamp(ss.Extra, m.gen) {
				return nil, nil // issued before a reload: full handshake
			}
			return ss, nil
		},
	}
}

// ClientConfig returns the configuration for originating mutual TLS to an
// endpoint whose SPIFFE ID must be expected ("" accepts any ID in our trust
// domain; an expected ID in another trust domain never matches). Configs are
// cached per expected value, so dialing never builds one.
//
// ServerName is left empty: crypto/tls then keys the session cache by the
// connection's RemoteAddr, one entry per endpoint. All client configs share
// one session cache (1024 entries), emptied on reload so that servers see the
// new certificate. A connection whose handshake straddles a reload can still
// store a session made with the old certificate; it is valid, and is
// replaced at the next reload or when it expires (crypto/tls servers do not
// resume sessions whose client certificate has expired).
//
// The caller should validate expected with ParseID when it is configured.
func (s *Source) ClientConfig(expected string) *tls.Config {
	return s.clientConfig(expected, false)
}

// ClientConfigH2 is ClientConfig offering h2 before http/1.1 by ALPN: the
// mesh hop multiplexes over HTTP/2 when the peer agrees.
func (s *Source) ClientConfigH2(expected string) *tls.Config {
	return s.clientConfig(expected, true)
}

// clientKey caches client configs by expected identity and ALPN offer.
type clientKey struct {
	expected string
	h2       bool
}

var (
	protocolsH1 = []string{"http/1.1"}
	protocolsH2 = []string{"h2", "http/1.1"}
)

func (s *Source) clientConfig(expected string, h2 bool) *tls.Config {
	key := clientKey{expected, h2}
	if c, ok := s.clients.Load(key); ok {
		return c.(*tls.Config)
	}
	protos := protocolsH1
	if h2 {
		protos = protocolsH2
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: protos,
		// SPIFFE certificates have no host names: crypto/tls's verification
		// is off and VerifyConnection does the whole job, on full and resumed
		// handshakes alike.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.cur.Load().cert, nil
		},
		VerifyConnection:   func(cs tls.ConnectionState) error { return s.verifyServer(cs, expected) },
		ClientSessionCache: s.sessions,
	}
	c, _ := s.clients.LoadOrStore(key, cfg)
	return c.(*tls.Config)
}

// PeerID returns the SPIFFE ID of the peer of a completed handshake made with
// ServerConfig or ClientConfig, whose VerifyConnection has verified it; ""
// when there is none (a handshake that did not complete, or an inbound client
// that sent no certificate).
func PeerID(cs *tls.ConnectionState) string {
	if cs == nil || !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return ""
	}
	id, err := IDFromCert(cs.PeerCertificates[0])
	if err != nil {
		return ""
	}
	return id
}

// genStampPrefix marks our entry in SessionState.Extra, which other layers
// may also append to.
var genStampPrefix = []byte("meshbench.identity.gen/1:")

func genStamp(gen uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), genStampPrefix...), gen)
}

func hasGenStamp(extra [][]byte, gen uint64) bool {
	for _, e := range extra {
		if v, ok := bytes.CutPrefix(e, genStampPrefix); ok && len(v) == 8 {
			return binary.BigEndian.Uint64(v) == gen
		}
	}
	return false
}

// sessionCache is the ClientSessionCache shared by every client config of a
// Source: an LRU cache that a reload replaces with an empty one, so that the
// next connections do full handshakes and servers see the new certificate.
type sessionCache struct{ lru atomic.Pointer[lruCache] }

type lruCache struct{ tls.ClientSessionCache }

func newSessionCache() *sessionCache {
	c := &sessionCache{}
	c.reset()
	return c
}

func (c *sessionCache) reset() {
	c.lru.Store(&lruCache{tls.NewLRUClientSessionCache(sessionCacheSize)})
}

func (c *sessionCache) Get(key string) (*tls.ClientSessionState, bool) { return c.lru.Load().Get(key) }

func (c *sessionCache) Put(key string, cs *tls.ClientSessionState) { c.lru.Load().Put(key, cs) }
