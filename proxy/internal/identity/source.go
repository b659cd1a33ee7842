package identity

import (
	"crypto/tls"
	"sync"
	"sync/atomic"
	"time"
)

// Source holds a proxy's current identity material and reloads it when the
// files change. It is safe for concurrent use: handshakes read the material
// through an atomic pointer, so a reload never blocks or tears one. Make one
// with Load.
type Source struct {
	files    files
	cur      atomic.Pointer[material]
	reloads  atomic.Uint64
	sessions *sessionCache // the one client session cache of every ClientConfig

	server  *tls.Config
	clients sync.Map // clientKey (expected SPIFFE ID, ALPN offer) → *tls.Config

	mu   sync.Mutex    // guards stop and done
	stop chan struct{} // closed by Stop; nil when not polling
	done chan struct{} // closed when the poller has returned
}

// Load reads and validates the three PEM files of an identity: the
// certificate chain (leaf first, then any intermediates), its private key
// (RSA, ECDSA or Ed25519; PKCS#1, PKCS#8 or SEC 1) and the CA bundle. The key
// must match the leaf, the leaf must be valid now, chain to the bundle,
// allow serverAuth and clientAuth, and carry exactly one URI SAN that is a
// workload's SPIFFE ID. An error is a *FileError naming the file and what is
// wrong with it.
func Load(certFile, keyFile, caFile string) (*Source, error) {
	f := files{cert: certFile, key: keyFile, ca: caFile}
	c, sum, err := f.read()
	if err != nil {
		return nil, err
	}
	m, err := f.build(c, sum, time.Now())
	if err != nil {
		return nil, err
	}
	s := &Source{files: f, sessions: newSessionCache()}
	s.server = s.newServerConfig()
	m.server = s.serverConfigFor(m)
	s.cur.Store(m)
	return s, nil
}

// ID returns the proxy's own SPIFFE ID, from the current certificate.
func (s *Source) ID() string { return s.cur.Load().id }

// TrustDomain returns the trust domain of the current certificate: the only
// one whose peers are accepted.
func (s *Source) TrustDomain() string { return s.cur.Load().td }

// NotAfter returns when the current leaf certificate expires.
func (s *Source) NotAfter() time.Time { return s.cur.Load().notAfter }

// Reloads returns how many times new material has replaced the material
// loaded first.
func (s *Source) Reloads() uint64 { return s.reloads.Load() }

// install makes m the current material. It numbers m after the material it
// replaces, which ends resumption of the sessions older materials made (see
// ServerConfig), and empties the client session cache for the same reason.
// Only the poller calls it.
func (s *Source) install(m *material) {
	m.gen = s.cur.Load().gen + 1
	m.server = s.serverConfigFor(m)
	s.cur.Store(m)
	s.reloads.Add(1)
	s.sessions.reset()
}
