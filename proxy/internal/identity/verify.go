package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"
)

// PeerError is the error VerifyConnection returns when it refuses a peer.
// crypto/tls returns it unwrapped from the handshake (after sending a
// bad_certificate alert), so Classify finds it with errors.As.
type PeerError struct {
	Reason string // Classify's label: ReasonNoClientCert, ReasonUnknownCA, ...
	ID     string // the peer's SPIFFE ID, when it had a valid one
	Msg    string // what is wrong, for logs
	Err    error  // the x509 or SPIFFE ID error behind it, if any
}

func (e *PeerError) Error() string {
	msg := "identity: " + e.Msg
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *PeerError) Unwrap() error { return e.Err }

func (s *Source) verifyClient(cs tls.ConnectionState) error {
	return s.verifyPeer(cs, x509.ExtKeyUsageClientAuth, "")
}

func (s *Source) verifyServer(cs tls.ConnectionState, expected string) error {
	return s.verifyPeer(cs, x509.ExtKeyUsageServerAuth, expected)
}

// verifyPeer is the whole verification of a peer, on full and resumed
// handshakes: x509 path validation of the leaf through the intermediates the
// peer sent to the current CA bundle (with the current time and the
// extended key usage of the peer's role), then the X.509-SVID leaf rules,
// then the trust domain and, if set, the expected ID. Host names play no part.
func (s *Source) verifyPeer(cs tls.ConnectionState, usage x509.ExtKeyUsage, expected string) error {
	m := s.cur.Load()
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &PeerError{Reason: ReasonNoClientCert, Msg: "the peer sent no certificate"}
	}
	leaf := certs[0]
	opts := x509.VerifyOptions{
		Roots:       m.roots,
		CurrentTime: time.Now(),
		KeyUsages:   []x509.ExtKeyUsage{usage},
	}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := leaf.Verify(opts); err != nil {
		if inv, ok := errors.AsType[x509.CertificateInvalidError](err); ok && inv.Reason == x509.Expired {
			return &PeerError{Reason: ReasonExpired, Msg: "the peer certificate is expired or not yet valid", Err: err}
		}
		return &PeerError{Reason: ReasonUnknownCA, Msg: "the peer certificate does not verify against the CA bundle", Err: err}
	}
	id, err := IDFromCert(leaf)
	if err == nil {
		err = checkLeaf(leaf)
	}
	if err != nil {
		return &PeerError{Reason: ReasonNoSPIFFEID, Msg: "the peer certificate is not a workload X.509-SVID", Err: err}
	}
	if td := trustDomainOf(id); td != m.td {
		return &PeerError{Reason: ReasonUntrustedDomain, ID: id,
			Msg: "the peer " + id + " is outside our trust domain " + m.td}
	}
	if expected != "" && id != expected {
		return &PeerError{Reason: ReasonIdentityMismatch, ID: id,
			Msg: "the server is " + id + ", want " + expected}
	}
	return nil
}
