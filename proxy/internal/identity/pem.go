package identity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// pemBlocks decodes every PEM block in data. A block that does not decode
// (cut short by a writer still at work, or damaged) is an error rather than
// skipped: pem.Decode would silently pass over it, turning a half-written CA
// bundle into a smaller one and a half-written chain into a shorter one.
func pemBlocks(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	// Each block has exactly one BEGIN line, and base64 never contains '-'.
	if begins := bytes.Count(data, []byte("-----BEGIN ")); begins != len(blocks) {
		return nil, fmt.Errorf("%d of %d PEM blocks are truncated or malformed", begins-len(blocks), begins)
	}
	return blocks, nil
}

// parseCertificates returns the certificates of a PEM file in order; other
// block types are ignored.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}

// parsePrivateKey returns the one private key of a PEM file, in any of the
// encodings that CAs and openssl write: PKCS#8 ("PRIVATE KEY"), PKCS#1
// ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY", possibly after the
// "EC PARAMETERS" block of openssl ecparam -genkey). Other blocks are ignored.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, err
	}
	var key any
	for _, b := range blocks {
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; decrypt it first (openssl pkey -in KEY -out KEY)")
		default:
			continue
		}
		if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, errors.New("the private key is encrypted; decrypt it first (openssl pkey -in KEY -out KEY)")
		}
		if err != nil {
			return nil, fmt.Errorf("%s block: %w", b.Type, err)
		}
		if key != nil {
			return nil, errors.New("more than one private key")
		}
		key = k
	}
	switch k := key.(type) {
	case nil:
		return nil, errors.New("no PEM private key block (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	default:
		return nil, fmt.Errorf("unsupported private key type %T (want RSA, ECDSA or Ed25519)", key)
	}
}

// keyMatches reports whether key is the private half of the certificate's
// public key.
func keyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}
