// Package identity is a proxy's mutual-TLS identity: a SPIFFE X.509-SVID
// (certificate chain, private key and CA bundle, three PEM files) and the
// crypto/tls configurations that present and verify it.
//
// SPIFFE certificates name workloads by one URI SAN,
// spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>, and carry no
// host names. Standard TLS verification checks host names, so both
// configurations switch it off (RequestClientCert on the server,
// InsecureSkipVerify on the client) and verify in VerifyConnection instead:
// full x509 path validation of the peer's leaf and the intermediates it sent
// against the current CA bundle, then the SPIFFE rules (exactly one URI SAN,
// a leaf that is not a CA, a trust domain equal to ours, and on the client an
// exact expected ID when one is given). Refusals are *PeerError values whose
// Reason is the metric label Classify returns.
//
// Rotation. Certificates are short-lived and are replaced in place, by
// cert-manager, an Istio agent or a Kubernetes Secret volume (whose files
// change by a symlink swap, so only content hashes tell). [Source.Start]
// polls the files; a set that does not validate as a whole (files written one
// at a time, a key that does not yet match its certificate) leaves the old
// material in use and is tried again on the next poll. The configurations
// that ServerConfig and ClientConfig return are never rebuilt: handshakes
// read the current material when they need it. A reload also ends session
// resumption across it, in both directions: the server stops resuming
// sessions made with older material and the client session cache is
// emptied. Otherwise a resumed session would keep showing the peer the old
// certificate for up to the ticket lifetime (7 days). Verification still runs
// on every resumed handshake, with the current CA bundle.
//
// Deliberate choices:
//
//   - TLS 1.3 only, with crypto/tls's default key exchanges (the hybrid
//     post-quantum X25519MLKEM768 first).
//   - The own certificate must be valid now, chain to the CA bundle and
//     allow both serverAuth and clientAuth (or carry no extended key usage),
//     because every proxy is both ends of mutual TLS: a certificate that
//     would fail at the peer fails at Load instead.
//   - Only one trust domain is trusted: the one in our own certificate
//     (no federation).
package identity
