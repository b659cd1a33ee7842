package identity

import (
	"crypto/tls"
	"testing"
	"time"
)

// TestResumption: a second connection with the same client config to the
// same server address resumes the session, on both sides, and both still
// know the verified peer identity.
func TestResumption(t *testing.T) {
	ca := newCA(t, "ca")
	server := loadOwnCA(t, ca, serverID)
	client := loadOwnCA(t, ca, clientID)
	srv := startServer(t, server.ServerConfig(), 5*time.Second)
	cfg := client.ClientConfig(serverID)

	// dial reads the server's first byte, which follows its session ticket
	// on the wire: after it, the ticket is in the client's cache.
	cr, sr := srv.exchange(t, cfg)
	if cr.err != nil || sr.err != nil {
		t.Fatalf("first connection: client %v, server %v", cr.err, sr.err)
	}
	if cr.state.DidResume || sr.state.DidResume {
		t.Fatal("the first connection resumed")
	}

	for i := range 3 {
		cr, sr = srv.exchange(t, cfg)
		if cr.err != nil || sr.err != nil {
			t.Fatalf("connection %d: client %v, server %v", i+2, cr.err, sr.err)
		}
		if !cr.state.DidResume || !sr.state.DidResume {
			t.Fatalf("connection %d did not resume (client %v, server %v)", i+2, cr.state.DidResume, sr.state.DidResume)
		}
		if PeerID(&sr.state) != clientID || PeerID(&cr.state) != serverID {
			t.Errorf("resumed peers: server sees %q, client sees %q", PeerID(&sr.state), PeerID(&cr.state))
		}
	}

	// The session cache is shared by every client config of the Source, and
	// verification runs on resumed sessions: a config expecting another ID
	// resumes the session and still refuses the server.
	cr, sr = srv.exchange(t, client.ClientConfig(""))
	if cr.err != nil || !cr.state.DidResume {
		t.Errorf("config for any ID: error %v, resumed %v", cr.err, cr.state.DidResume)
	}
	cr, _ = srv.exchange(t, client.ClientConfig("spiffe://cluster.local/ns/default/sa/other"))
	if Classify(cr.err) != ReasonIdentityMismatch {
		t.Errorf("config for another ID: error %v, want %s", cr.err, ReasonIdentityMismatch)
	}
}

// TestReloadEndsResumption: after either side's identity is reloaded, the
// next connection is a full handshake that shows the peer the new
// certificate; the one after resumes again.
func TestReloadEndsResumption(t *testing.T) {
	ca := newCA(t, "ca")
	serverLeaf, clientLeaf := ca.issue(t, serverID), ca.issue(t, clientID)
	sp := writeIdentity(t, t.TempDir(), serverLeaf.certPEM, serverLeaf.keyPEM, bundle(ca))
	cp := writeIdentity(t, t.TempDir(), clientLeaf.certPEM, clientLeaf.keyPEM, bundle(ca))
	writeLeaf := func(p paths, l *testLeaf) {
		replaceFile(t, p.cert, l.certPEM)
		replaceFile(t, p.key, l.keyPEM)
	}
	server, err := Load(sp.cert, sp.key, sp.ca)
	if err != nil {
		t.Fatal(err)
	}
	client, err := Load(cp.cert, cp.key, cp.ca)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, server.ServerConfig(), 5*time.Second)
	cfg := client.ClientConfig(serverID)
	var st pollState

	resumes := func(want bool, wantServer, wantClient *testLeaf) {
		t.Helper()
		cr, sr := srv.exchange(t, cfg)
		if cr.err != nil || sr.err != nil {
			t.Fatalf("client %v, server %v", cr.err, sr.err)
		}
		if cr.state.DidResume != want || sr.state.DidResume != want {
			t.Fatalf("resumed: client %v, server %v; want %v", cr.state.DidResume, sr.state.DidResume, want)
		}
		if got := peerSerial(cr.state); got != wantServer.cert.SerialNumber.String() {
			t.Errorf("client sees server serial %s, want %s", got, wantServer.cert.SerialNumber)
		}
		if got := peerSerial(sr.state); got != wantClient.cert.SerialNumber.String() {
			t.Errorf("server sees client serial %s, want %s", got, wantClient.cert.SerialNumber)
		}
	}
	resumes(false, serverLeaf, clientLeaf)
	resumes(true, serverLeaf, clientLeaf)

	serverLeaf = ca.issue(t, serverID)
	writeLeaf(sp, serverLeaf)
	server.poll(&st, nil, nil)
	resumes(false, serverLeaf, clientLeaf)
	resumes(true, serverLeaf, clientLeaf)

	clientLeaf = ca.issue(t, clientID)
	writeLeaf(cp, clientLeaf)
	client.poll(&st, nil, nil)
	resumes(false, serverLeaf, clientLeaf)
	resumes(true, serverLeaf, clientLeaf)

	if server.Reloads() != 1 || client.Reloads() != 1 {
		t.Errorf("reloads: server %d, client %d; want 1 each", server.Reloads(), client.Reloads())
	}
}

// TestReloadDuringHandshake: a server reload that falls between the
// server's certificate and its session ticket must not leave the client a
// resumable session for the old certificate.
func TestReloadDuringHandshake(t *testing.T) {
	ca := newCA(t, "ca")
	leafA, leafB := ca.issue(t, serverID), ca.issue(t, serverID)
	sp := writeIdentity(t, t.TempDir(), leafA.certPEM, leafA.keyPEM, bundle(ca))
	server, err := Load(sp.cert, sp.key, sp.ca)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, server.ServerConfig(), 5*time.Second)
	client := loadOwnCA(t, ca, clientID)
	base := client.ClientConfig(serverID)

	// The server asks for the client's certificate after sending its own
	// and sends the ticket after verifying it: reload the server in between.
	cfg := base.Clone() // shares the session cache
	var st pollState
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		replaceFile(t, sp.cert, leafB.certPEM)
		replaceFile(t, sp.key, leafB.keyPEM)
		server.poll(&st, nil, nil)
		return base.GetClientCertificate(cri)
	}
	cr, sr := srv.exchange(t, cfg)
	if cr.err != nil || sr.err != nil {
		t.Fatalf("client %v, server %v", cr.err, sr.err)
	}
	if server.Reloads() != 1 || peerSerial(cr.state) != leafA.cert.SerialNumber.String() {
		t.Fatalf("reloads %d, serial %s: the reload did not fall inside the handshake", server.Reloads(), peerSerial(cr.state))
	}

	cr, sr = srv.exchange(t, base)
	if cr.err != nil || sr.err != nil {
		t.Fatalf("client %v, server %v", cr.err, sr.err)
	}
	if cr.state.DidResume || peerSerial(cr.state) != leafB.cert.SerialNumber.String() {
		t.Errorf("after the reload: resumed %v, serial %s; want a full handshake with %s",
			cr.state.DidResume, peerSerial(cr.state), leafB.cert.SerialNumber)
	}
}
