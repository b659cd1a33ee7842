package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"syscall"
)

// Handshake failure labels, as Classify returns them.
const (
	ReasonNoClientCert     = "no_client_cert"    // the client sent no certificate
	ReasonUnknownCA        = "unknown_ca"        // the chain does not verify against the CA bundle
	ReasonExpired          = "expired"           // the peer certificate is expired or not yet valid
	ReasonUntrustedDomain  = "untrusted_domain"  // the peer's SPIFFE ID is outside our trust domain
	ReasonIdentityMismatch = "identity_mismatch" // the server is not the expected SPIFFE ID
	ReasonNoSPIFFEID       = "no_spiffe_id"      // the peer certificate is not a workload X.509-SVID
	ReasonNotTLS           = "not_tls"           // the first bytes are not a TLS record (plaintext client)
	ReasonTimeout          = "timeout"           // the handshake deadline passed
	ReasonEOF              = "eof"               // the peer went away
	ReasonProtocol         = "protocol"          // anything else
)

// Reasons lists every label Classify returns, for metrics that pre-create
// their series.
var Reasons = []string{
	ReasonNoClientCert, ReasonUnknownCA, ReasonExpired, ReasonUntrustedDomain, ReasonIdentityMismatch,
	ReasonNoSPIFFEID, ReasonNotTLS, ReasonTimeout, ReasonEOF, ReasonProtocol,
}

// TLS alert codes (RFC 8446 section 6) that a peer sends with a reason
// Classify has a label for.
const (
	alertCertificateExpired  = 45
	alertUnknownCA           = 48
	alertCertificateRequired = 116
)

// Classify maps a handshake error to a short metric label (one of Reasons;
// "" for nil). Our own refusals carry their label (*PeerError). A refusal by
// the peer arrives as a TLS alert; the alerts that state a reason
// (certificate_required, unknown_ca, certificate_expired, as sent by servers
// that verify with crypto/tls's or BoringSSL's standard verification) are
// labelled with it, others are "protocol": this package's own refusals send
// the generic bad_certificate, which crypto/tls hard-codes.
func Classify(err error) string {
	if err == nil {
		return ""
	}
	if pe, ok := errors.AsType[*PeerError](err); ok {
		return pe.Reason
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return ReasonNotTLS
	}
	if isTimeout(err) {
		return ReasonTimeout
	}
	if isEOF(err) {
		return ReasonEOF
	}
	// crypto/tls's standard verification, for configs other than ours.
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return ReasonUnknownCA
	}
	if inv, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		if inv.Reason == x509.Expired {
			return ReasonExpired
		}
		return ReasonUnknownCA
	}
	switch code, _ := remoteAlert(err); code {
	case alertCertificateRequired:
		return ReasonNoClientCert
	case alertUnknownCA:
		return ReasonUnknownCA
	case alertCertificateExpired:
		return ReasonExpired
	}
	return ReasonProtocol
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

func isEOF(err error) bool {
	for _, target := range [...]error{
		io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe, net.ErrClosed,
		syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// remoteAlert returns the code of the alert a peer sent. crypto/tls reports
// it as a *net.OpError{Op: "remote error"} around its unexported alert type,
// a uint8; reading the number avoids matching the alert's text.
func remoteAlert(err error) (uint8, bool) {
	op, ok := errors.AsType[*net.OpError](err)
	if !ok || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	v := reflect.ValueOf(op.Err)
	if v.Kind() != reflect.Uint8 || v.Type().PkgPath() != "crypto/tls" {
		return 0, false
	}
	return uint8(v.Uint()), true
}
