package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// clockSkew is how far NotBefore is backdated, so a certificate is already
// valid on a peer whose clock runs a little behind the machine that made it.
const clockSkew = time.Minute

// CA is a certificate authority that signs workload certificates. NewCA makes
// one in memory, so tests can mint identities without touching the disk;
// ParseCA loads one that already exists, including one made with openssl.
type CA struct {
	// Cert is the CA certificate that leaves are signed under.
	Cert *x509.Certificate
	// Key is Cert's private key.
	Key crypto.Signer
	// CertPEM is the PEM a peer trusts (a proxy's caFile).
	CertPEM []byte
	// KeyPEM is Key as PEM.
	KeyPEM []byte
}

// NewCA makes a self-signed ECDSA P-256 CA for trustDomain, valid from a
// minute ago (see clockSkew) for validity. Its path length is 0: it signs
// workload certificates directly, and nothing it signs can act as a CA.
func NewCA(trustDomain string, validity time.Duration) (*CA, error) {
	if err := checkTrustDomain(trustDomain); err != nil {
		return nil, fmt.Errorf("certs: trust domain %w", err)
	}
	if err := checkValidity(validity); err != nil {
		return nil, fmt.Errorf("certs: validity %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	return newCA(trustDomain, now.Add(-clockSkew), now.Add(validity))
}

func newCA(trustDomain string, notBefore, notAfter time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "meshbench CA " + trustDomain},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// ParseCA loads a CA from PEM: the first CERTIFICATE block of certPEM is the
// CA (any that follow are kept in CertPEM untouched, so a bundle still
// trusts what it trusted) and keyPEM holds its private key as PKCS#8
// ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"),
// the forms openssl writes. Other PEM blocks, such as openssl's
// "EC PARAMETERS", are skipped. It fails if the certificate is not a CA
// that may sign certificates or the key is not its key, since issuing under
// either would produce leaves that no peer accepts.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	ca, err := parseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return ca, nil
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := firstCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, errors.New("certificate is not a CA (basicConstraints CA:TRUE missing)")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("CA certificate's key usage does not allow signing certificates (keyCertSign)")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("private key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Issue signs a new workload certificate for spiffeID with a fresh ECDSA
// P-256 key and returns both as PEM (the key as PKCS#8). The certificate is
// an X.509-SVID: its only subject alternative name is the URI spiffeID (no
// DNS names, so peers authorize by identity, not by host name), and it is
// good for both ends of mutual TLS (serverAuth and clientAuth).
//
// notBefore and notAfter are used as given, not clamped to the CA's own
// validity, so tests can make expired, not-yet-valid or outliving
// certificates on purpose; Generate is the caller that clamps.
func (ca *CA) Issue(spiffeID string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	_, certPEM, keyPEM, err = ca.issue(spiffeID, notBefore, notAfter)
	return certPEM, keyPEM, err
}

func (ca *CA) issue(id string, notBefore, notAfter time.Time) (cert *x509.Certificate, certPEM, keyPEM []byte, err error) {
	if err := checkSPIFFEID(id); err != nil {
		return nil, nil, nil, fmt.Errorf("certs: %w", err)
	}
	if !notAfter.After(notBefore) {
		return nil, nil, nil, fmt.Errorf("certs: notAfter %v is not after notBefore %v", notAfter, notBefore)
	}
	td, path, _ := strings.Cut(strings.TrimPrefix(id, "spiffe://"), "/")
	uri := &url.URL{Scheme: "spiffe", Host: td, Path: "/" + path}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// A non-empty subject keeps the SAN extension non-critical (RFC 5280
		// requires it critical when the subject is empty) and tells a human
		// running openssl x509 -text where the certificate came from.
		Subject:               pkix.Name{Organization: []string{"meshbench"}},
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("certs: sign %s: %w", id, err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		return nil, nil, nil, fmt.Errorf("certs: parse certificate for %s: %w", id, err)
	}
	if keyPEM, err = encodeKey(key); err != nil {
		return nil, nil, nil, err
	}
	return cert, encodeCert(der), keyPEM, nil
}

// randomSerial returns a random, non-zero 128-bit serial number. RFC 5280
// wants serials unique per CA; 128 random bits make a collision between
// independent runs (which share a reused CA) practically impossible without
// keeping state.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("certs: serial number: %w", err)
		}
		if s := new(big.Int).SetBytes(b); s.Sign() > 0 {
			return s, nil
		}
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func firstCert(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, errors.New("no CERTIFICATE PEM block")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func parseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, errors.New("no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY PEM block")
		}
		var (
			key any
			err error
		)
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("private key is encrypted; decrypt it first (openssl pkey -in KEY -out KEY)")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", b.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%T cannot sign", key)
		}
		return signer, nil
	}
}
