// Package certs makes the certificates that meshproxy's mutual TLS runs on:
// a CA (the trust root every proxy loads as its caFile) and one X.509-SVID
// per workload, identified by a SPIFFE ID such as
// spiffe://cluster.local/ns/default/sa/web rather than by a host name.
//
// Generate writes them to a directory for benchmarks and for users, keeping
// an existing CA so that re-running it rotates or adds leaf certificates
// without invalidating everything already trusted. NewCA, ParseCA and
// CA.Issue do the same in memory, for tests that need identities without
// files.
//
// Everything is ECDSA P-256 with PKCS#8 keys: the cheapest handshake that
// every TLS stack (crypto/tls, OpenSSL, BoringSSL, rustls) supports.
package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

const (
	// DefaultTrustDomain is used when Options.TrustDomain is empty; it is
	// the trust domain Kubernetes meshes use unless configured otherwise.
	DefaultTrustDomain = "cluster.local"
	// DefaultValidity is used when Options.Validity is zero: long enough for
	// a benchmark run, short enough that stray test keys soon expire.
	DefaultValidity = 24 * time.Hour
	// MaxValidity bounds Options.Validity; anything longer is a typo (and a
	// key that outlives its purpose by decades).
	MaxValidity = 10 * 365 * 24 * time.Hour

	// CACertFile and CAKeyFile are the CA's file names inside Options.Dir.
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

const (
	// Keys are private to their owner; certificates are public.
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
	dirMode  fs.FileMode = 0o755
)

// ErrUnusableCA is wrapped by Generate's error when Dir holds a CA it cannot
// use: only one of its files, files that do not parse or do not match, or
// an expired CA. Generate never replaces such a CA on its own, because other
// proxies may still trust it; set Options.NewCA to replace it.
var ErrUnusableCA = errors.New("existing CA is unusable")

// Options says what Generate writes.
type Options struct {
	// Dir is the directory the files are written to; it is created (mode
	// 0755, with parents) if it does not exist. Required.
	Dir string
	// TrustDomain is the SPIFFE trust domain of every identity; empty means
	// DefaultTrustDomain.
	TrustDomain string
	// Validity is how long the CA (when a new one is made) and the leaf
	// certificates are valid, from now; zero means DefaultValidity. A leaf
	// never outlives the CA it is signed under: with a reused CA that
	// expires sooner, the leaves expire with it.
	Validity time.Duration
	// Identities are the workloads to issue certificates for, each
	// "namespace/serviceaccount" (see ParseIdentity). None means Generate
	// only makes sure the CA exists.
	Identities []string
	// NewCA replaces the CA in Dir even if it is usable. Leaf certificates
	// not reissued in the same call stay signed by the old CA.
	NewCA bool
}

// Written describes one file Generate wrote.
type Written struct {
	// Path is the file's path: Dir joined with the file name.
	Path string
	// SPIFFEID is the identity the file belongs to: the workload's ID for
	// its .crt and .key, the trust domain's ID (spiffe://cluster.local) for
	// the CA's.
	SPIFFEID string
	// NotAfter is when the certificate the file holds, or belongs with,
	// expires.
	NotAfter time.Time
}

// An OptionError reports an invalid field of Options. Generate checks every
// field before it touches the disk, so an OptionError means nothing was
// written; callers such as the meshbench CLI map Field to their own name for
// it.
type OptionError struct {
	// Field is the Options field's name, such as "TrustDomain".
	Field string
	// Err says what is wrong, starting with the offending value or a verb.
	Err error
}

func (e *OptionError) Error() string { return "certs: invalid " + e.Field + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// identity is a validated Options.Identities entry.
type identity struct {
	id   string // SPIFFE ID
	base string // file name without extension: "<ns>-<sa>"
}

// Generate writes the CA and one certificate and key per identity to
// o.Dir. The CA files are ca.crt and ca.key; an identity ns/sa gets
// <ns>-<sa>.crt (the leaf alone: peers get the CA from ca.crt) and
// <ns>-<sa>.key. Keys are mode 0600, certificates 0644, keys PKCS#8.
//
// A usable CA already in o.Dir is kept unless o.NewCA is set, so that
// adding an identity or rotating leaves keeps the trust root every proxy
// already has; a CA that exists but is unusable is an error wrapping
// ErrUnusableCA.
//
// Every file is replaced atomically (written to a temporary file in o.Dir,
// then renamed), so a proxy that watches and reloads them never reads a
// half-written file. Each .key is written before its .crt. The result lists
// the files written in order, the CA's first; on error it lists those
// written before the failure.
func Generate(o Options) ([]Written, error) {
	ids, err := o.check()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	notBefore := now.Add(-clockSkew)

	var written []Written
	write := func(name string, data []byte, mode fs.FileMode, id string, notAfter time.Time) error {
		path := filepath.Join(o.Dir, name)
		if err := writeFileAtomic(path, data, mode); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		written = append(written, Written{Path: path, SPIFFEID: id, NotAfter: notAfter})
		return nil
	}

	var ca *CA
	if !o.NewCA {
		if ca, err = loadCA(o.Dir, now); err != nil {
			return nil, err
		}
	}
	if ca == nil {
		if ca, err = newCA(o.TrustDomain, notBefore, now.Add(o.Validity)); err != nil {
			return nil, err
		}
		tdID := "spiffe://" + o.TrustDomain
		if err := write(CAKeyFile, ca.KeyPEM, keyMode, tdID, ca.Cert.NotAfter); err != nil {
			return written, err
		}
		if err := write(CACertFile, ca.CertPEM, certMode, tdID, ca.Cert.NotAfter); err != nil {
			return written, err
		}
	}

	notAfter := now.Add(o.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		// A leaf that outlives its CA fails verification once the CA
		// expires anyway; saying so in its own NotAfter makes the real
		// expiry visible to whoever reads the certificate or our output.
		notAfter = ca.Cert.NotAfter
	}
	for _, id := range ids {
		cert, certPEM, keyPEM, err := ca.issue(id.id, notBefore, notAfter)
		if err != nil {
			return written, err
		}
		if err := write(id.base+".key", keyPEM, keyMode, id.id, cert.NotAfter); err != nil {
			return written, err
		}
		if err := write(id.base+".crt", certPEM, certMode, id.id, cert.NotAfter); err != nil {
			return written, err
		}
	}
	return written, nil
}

// check applies the defaults to o and validates it, returning the parsed
// identities.
func (o *Options) check() ([]identity, error) {
	if o.TrustDomain == "" {
		o.TrustDomain = DefaultTrustDomain
	}
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	if o.Dir == "" {
		return nil, &OptionError{"Dir", errors.New("is required")}
	}
	if err := checkTrustDomain(o.TrustDomain); err != nil {
		return nil, &OptionError{"TrustDomain", err}
	}
	if err := checkValidity(o.Validity); err != nil {
		return nil, &OptionError{"Validity", err}
	}
	ids := make([]identity, 0, len(o.Identities))
	byBase := make(map[string]string, len(o.Identities))
	for _, s := range o.Identities {
		ns, sa, err := ParseIdentity(s)
		if err != nil {
			return nil, &OptionError{"Identities", err}
		}
		// "a-b/c" and "a/b-c" share a file name; refuse rather than let one
		// silently overwrite the other.
		base := ns + "-" + sa
		if prev, ok := byBase[base]; ok {
			if prev == s {
				return nil, &OptionError{"Identities", fmt.Errorf("%q is listed twice", s)}
			}
			return nil, &OptionError{"Identities", fmt.Errorf("%q and %q would both be written to %s.crt", prev, s, base)}
		}
		byBase[base] = s
		ids = append(ids, identity{id: spiffeID(o.TrustDomain, ns, sa), base: base})
	}
	return ids, nil
}

// checkValidity's messages follow the name of whatever holds the duration.
func checkValidity(d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("must be positive, got %v", d)
	case d > MaxValidity:
		return fmt.Errorf("must be at most %v (10 years), got %v", MaxValidity, d)
	}
	return nil
}

// loadCA returns the CA in dir, or nil if dir has neither CA file. Any
// other state (one file only, files that do not parse or match, an expired
// CA) is an error wrapping ErrUnusableCA.
func loadCA(dir string, now time.Time) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	certMissing, keyMissing := errors.Is(certErr, fs.ErrNotExist), errors.Is(keyErr, fs.ErrNotExist)
	switch {
	case certMissing && keyMissing:
		return nil, nil
	case certMissing:
		return nil, fmt.Errorf("certs: %w: %s exists but %s does not", ErrUnusableCA, keyPath, certPath)
	case keyMissing:
		return nil, fmt.Errorf("certs: %w: %s exists but %s does not", ErrUnusableCA, certPath, keyPath)
	case certErr != nil:
		// Unreadable is not unusable: a permission problem should be fixed,
		// not answered by replacing the trust root.
		return nil, fmt.Errorf("certs: %w", certErr)
	case keyErr != nil:
		return nil, fmt.Errorf("certs: %w", keyErr)
	}
	ca, err := parseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %w: %s, %s: %v", ErrUnusableCA, certPath, keyPath, err)
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("certs: %w: %s expired at %s", ErrUnusableCA, certPath, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return ca, nil
}

// writeFileAtomic replaces path with data so that a concurrent reader sees
// either the old file or the new one, never a mix: it writes a temporary
// file in the same directory (a rename is only atomic within a file
// system) and renames it over path. The temporary name starts with a dot
// and does not end in .crt or .key, so a watcher globbing for those ignores
// it.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir, name := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// CreateTemp makes the file 0600 whatever the umask; set the final mode
	// explicitly (Chmod ignores the umask) so certificates are 0644.
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	// Sync before the rename, or a crash could leave path renamed but empty.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
