package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshbench/meshbench/scenarios/certs"
)

// certsFlags maps certs.Options fields to the flags that set them, so the
// library's validation errors name what the user typed.
var certsFlags = map[string]string{
	"Dir":         "-out",
	"TrustDomain": "-trust-domain",
	"Validity":    "-validity",
	"Identities":  "-identities",
}

// runCerts implements "meshbench certs": it writes a CA and a SPIFFE
// identity per -identities entry to -out with certs.Generate, printing one
// line per file written. Validation is left to the library where it can
// judge (one set of rules for the CLI and for tests that call Generate);
// the CLI checks only what the library defaults instead of rejecting.
func runCerts(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the files to `dir`, created if needed (required)")
	trustDomain := fs.String("trust-domain", certs.DefaultTrustDomain, "SPIFFE trust `domain` of the identities")
	validity := fs.Duration("validity", certs.DefaultValidity, "how long the certificates are valid (a Go `duration`, at most 10 years)")
	newCA := fs.Bool("new-ca", false, "replace the CA in -out instead of reusing it")
	var identities []string
	fs.Func("identities", "comma-separated `ns/sa` identities to issue certificates for (required; may be repeated)", func(s string) error {
		// An empty value (an unset shell variable) adds nothing, so the
		// user hears "-identities is required" rather than about "".
		if strings.TrimSpace(s) == "" {
			return nil
		}
		for id := range strings.SplitSeq(s, ",") {
			identities = append(identities, strings.TrimSpace(id))
		}
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: meshbench certs -out DIR -identities ns/sa[,ns/sa...] [flags]\n\n"+
			"Writes a CA (DIR/ca.crt, DIR/ca.key) and, for each identity ns/sa, a\n"+
			"certificate and key (DIR/<ns>-<sa>.crt, .key) for the SPIFFE ID\n"+
			"spiffe://<trust-domain>/ns/<ns>/sa/<sa>. A CA already in DIR is kept unless\n"+
			"-new-ca is given, so re-running adds or rotates identities under the same\n"+
			"trust root. Every file is replaced atomically.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int { return usageError(fs, stderr, format, a...) }
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *out == "":
		return usageErr("-out is required")
	case len(identities) == 0:
		return usageErr("-identities is required")
	case *trustDomain == "": // the library would take "" as "use the default"
		return usageErr("-trust-domain: must not be empty")
	case *validity <= 0: // the library would take 0 as "use the default"
		return usageErr("-validity: must be positive, got %v", *validity)
	}

	start := time.Now()
	written, err := certs.Generate(certs.Options{
		Dir:         *out,
		TrustDomain: *trustDomain,
		Validity:    *validity,
		Identities:  identities,
		NewCA:       *newCA,
	})
	var optErr *certs.OptionError
	if errors.As(err, &optErr) {
		return usageErr("%s: %v", certsFlags[optErr.Field], optErr.Err)
	}
	caPath := filepath.Join(*out, certs.CACertFile)
	if err == nil && (len(written) == 0 || written[0].Path != filepath.Join(*out, certs.CAKeyFile)) {
		fmt.Fprintf(stdout, "kept %s (existing CA; -new-ca replaces it)\n", caPath)
	}
	// Files written before a failure are listed too: they are on disk.
	clamped := false
	for _, w := range written {
		fmt.Fprintf(stdout, "wrote %s (%s, expires %s)\n", w.Path, w.SPIFFEID, w.NotAfter.UTC().Format(time.RFC3339))
		clamped = clamped || w.NotAfter.Before(start.Truncate(time.Second).Add(*validity))
	}
	if err != nil {
		fmt.Fprintf(stderr, "meshbench certs: %v\n", err)
		if errors.Is(err, certs.ErrUnusableCA) {
			fmt.Fprintf(stderr, "meshbench certs: -new-ca replaces the CA (peers that trust the old one will reject the new identities)\n")
		}
		return 1
	}
	if clamped {
		fmt.Fprintf(stderr, "meshbench certs: warning: %s expires before -validity %v is up; the new certificates expire with it (-new-ca replaces the CA)\n", caPath, *validity)
	}
	return 0
}
