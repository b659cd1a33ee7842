package identity

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
)

// material is one validated identity: everything a handshake reads. It is
// immutable; a reload replaces it whole.
type material struct {
	cert     *tls.Certificate // chain and key, Leaf set
	id, td   string
	roots    *x509.CertPool
	notAfter time.Time
	sum      [32]byte    // of the three files as read: what the poller compares
	gen      uint64      // 0 for the first load, +1 per reload
	server   *tls.Config // this material's server configuration (serverConfigFor)
}

// FileError is a problem with one identity file. Field is the configuration
// field that names the file ("certFile", "keyFile" or "caFile"), so the
// message says which setting to fix.
type FileError struct {
	Field string
	Path  string
	Err   error
}

func (e *FileError) Error() string {
	return "identity." + e.Field + " " + e.Path + ": " + e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }

// notYetValidError is a certificate whose validity starts after now: unlike
// every other content error it heals with time alone (reload.go polls again).
type notYetValidError struct{ notBefore time.Time }

func (e *notYetValidError) Error() string {
	return "the certificate is not valid until " + e.notBefore.UTC().Format(time.RFC3339)
}

// files names the three files of an identity.
type files struct{ cert, key, ca string }

func (f files) certErr(err error) error { return &FileError{"certFile", f.cert, err} }
func (f files) keyErr(err error) error  { return &FileError{"keyFile", f.key, err} }
func (f files) caErr(err error) error   { return &FileError{"caFile", f.ca, err} }

// contents is the three files as read at one moment.
type contents struct{ cert, key, ca []byte }

// read reads the three files and hashes what it found. A file that cannot be
// read still contributes its error to the hash, so that the poller can tell
// a missing file that stays missing from one that comes back.
func (f files) read() (contents, [32]byte, error) {
	var c contents
	var firstErr error
	h := sha256.New()
	for _, x := range [...]struct {
		dst  *[]byte
		path string
		wrap func(error) error
	}{{&c.cert, f.cert, f.certErr}, {&c.key, f.key, f.keyErr}, {&c.ca, f.ca, f.caErr}} {
		b, err := os.ReadFile(x.path)
		if err != nil {
			if firstErr == nil {
				firstErr = x.wrap(err)
			}
			b = []byte("error: " + err.Error())
		}
		*x.dst = b
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return c, sum, firstErr
}

// build validates one set of contents as a whole and returns the material,
// or an error naming the file to fix.
func (f files) build(c contents, sum [32]byte, now time.Time) (*material, error) {
	chain, err := parseCertificates(c.cert)
	if err != nil {
		return nil, f.certErr(err)
	}
	leaf := chain[0]
	id, err := IDFromCert(leaf)
	if err != nil {
		return nil, f.certErr(err)
	}
	if err := checkLeaf(leaf); err != nil {
		return nil, f.certErr(err)
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, f.certErr(fmt.Errorf("the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339)))
	case now.Before(leaf.NotBefore):
		return nil, f.certErr(&notYetValidError{leaf.NotBefore})
	}

	key, err := parsePrivateKey(c.key)
	if err != nil {
		return nil, f.keyErr(err)
	}
	if !keyMatches(key, leaf) {
		return nil, f.keyErr(fmt.Errorf("the private key does not match the certificate in identity.certFile %s", f.cert))
	}

	cas, err := parseCertificates(c.ca)
	if err != nil {
		return nil, f.caErr(err)
	}
	roots := x509.NewCertPool()
	for _, ca := range cas {
		roots.AddCert(ca)
	}
	if err := verifyOwn(leaf, chain[1:], roots, now, f.ca); err != nil {
		return nil, f.certErr(err)
	}

	raw := make([][]byte, len(chain))
	for i, c := range chain {
		raw[i] = c.Raw
	}
	return &material{
		cert:     &tls.Certificate{Certificate: raw, PrivateKey: key, Leaf: leaf},
		id:       id,
		td:       trustDomainOf(id),
		roots:    roots,
		notAfter: leaf.NotAfter,
		sum:      sum,
	}, nil
}

// verifyOwn checks that our own certificate is one peers will accept: it
// chains to the bundle, and its extended key usage allows both ends of
// mutual TLS.
func verifyOwn(leaf *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, now time.Time, caFile string) error {
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), CurrentTime: now}
	for _, c := range intermediates {
		opts.Intermediates.AddCert(c)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("the certificate does not chain to a CA in identity.caFile %s: %w", caFile, err)
	}
	for _, u := range [...]struct {
		usage x509.ExtKeyUsage
		name  string
	}{{x509.ExtKeyUsageServerAuth, "serverAuth"}, {x509.ExtKeyUsageClientAuth, "clientAuth"}} {
		opts.KeyUsages = []x509.ExtKeyUsage{u.usage}
		if _, err := leaf.Verify(opts); err != nil {
			if inv, ok := errors.AsType[x509.CertificateInvalidError](err); ok && inv.Reason == x509.IncompatibleUsage {
				return fmt.Errorf("the extended key usage does not allow %s (a proxy is both TLS client and server)", u.name)
			}
			return fmt.Errorf("the certificate does not verify for %s: %w", u.name, err)
		}
	}
	return nil
}
