package identity

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder collects a Source's callbacks.
type recorder struct {
	mu      sync.Mutex
	reloads int
	errs    []error
}

func (r *recorder) onReload() { r.mu.Lock(); r.reloads++; r.mu.Unlock() }

func (r *recorder) onError(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() }

func (r *recorder) counts() (reloads, errs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloads, len(r.errs)
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// rotationRig is a server Source polling files in a directory, serving on
// loopback, and a client that trusts CAs given to it.
type rotationRig struct {
	t      *testing.T
	p      paths
	server *Source
	srv    *testServer
	rec    *recorder
	client *Source
}

func newRotationRig(t *testing.T, first *testLeaf, caPEM []byte, client *Source) *rotationRig {
	p := writeIdentity(t, t.TempDir(), first.certPEM, first.keyPEM, caPEM)
	server, err := Load(p.cert, p.key, p.ca)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	server.Start(50*time.Millisecond, rec.onReload, rec.onError)
	t.Cleanup(server.Stop)
	return &rotationRig{t: t, p: p, server: server, rec: rec, client: client,
		srv: startServer(t, server.ServerConfig(), 5*time.Second)}
}

// connect makes one connection, which must succeed, and returns the serial
// of the certificate the server presented.
func (r *rotationRig) connect() string {
	r.t.Helper()
	cr, sr := r.srv.exchange(r.t, r.client.ClientConfig(serverID))
	if cr.err != nil || sr.err != nil {
		r.t.Fatalf("handshake failed during rotation: client %v, server %v", cr.err, sr.err)
	}
	return peerSerial(cr.state)
}

// reloadDeadline bounds the wait for a reload the test expects: it tells a
// reload that never comes from a slow one, and is no latency bound. The
// rig polls every 50 ms, so an idle machine reloads within about 50 ms;
// a loaded 2-core machine can delay polls by much more.
const reloadDeadline = 10 * time.Second

// waitFor connects until the server presents want, which must happen
// within reloadDeadline of the files changing; every connection must
// succeed.
func (r *rotationRig) waitFor(step string, want *testLeaf) {
	r.t.Helper()
	start := time.Now()
	for {
		if r.connect() == want.cert.SerialNumber.String() {
			r.t.Logf("%s: new certificate served after %v", step, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > reloadDeadline {
			r.t.Fatalf("%s: the server still presents the old certificate after %v", step, reloadDeadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRotation(t *testing.T) {
	ca1, ca2 := newCA(t, "ca1"), newCA(t, "ca2")
	leaf1 := ca1.issue(t, serverID)
	// The client trusts both CAs, as every proxy does during a CA rotation.
	client := load(t, ca1.issue(t, clientID), bundle(ca1, ca2))
	r := newRotationRig(t, leaf1, bundle(ca1), client)
	serverCfg, clientCfg := r.server.ServerConfig(), r.server.ClientConfig("")
	r.waitFor("initial", leaf1)

	// A new certificate and key (new serial, same ID and CA), each swapped in
	// by rename.
	leaf2 := ca1.issue(t, serverID)
	replaceFile(t, r.p.cert, leaf2.certPEM)
	replaceFile(t, r.p.key, leaf2.keyPEM)
	r.waitFor("new certificate", leaf2)

	// A new CA: the bundle gains it, then the certificate comes from it.
	leaf3 := ca2.issue(t, serverID)
	replaceFile(t, r.p.ca, bundle(ca1, ca2))
	replaceFile(t, r.p.cert, leaf3.certPEM)
	replaceFile(t, r.p.key, leaf3.keyPEM)
	r.waitFor("certificate from the new CA", leaf3)

	// The old CA leaves the bundle: the client's certificate, from it, is
	// refused from then on, though the client holds a session it could
	// resume.
	replaceFile(t, r.p.ca, bundle(ca2))
	start := time.Now()
	for {
		cr, sr := r.srv.exchange(t, client.ClientConfig(serverID))
		if sr.err != nil {
			if got := Classify(sr.err); got != ReasonUnknownCA {
				t.Fatalf("server error %v classified %q, want %q", sr.err, got, ReasonUnknownCA)
			}
			break
		}
		if cr.err != nil {
			t.Fatalf("client error %v while the server still accepts it", cr.err)
		}
		if time.Since(start) > reloadDeadline {
			t.Fatalf("the server still accepts a client from the removed CA after %v", reloadDeadline)
		}
		time.Sleep(5 * time.Millisecond)
	}

	if r.server.ServerConfig() != serverCfg || r.server.ClientConfig("") != clientCfg {
		t.Error("rotation replaced a tls.Config")
	}
	// 3 or 4: the bundle with both CAs is a valid set with the old
	// certificate too, and a poll may or may not fall between the writes.
	if n := r.server.Reloads(); n < 3 || n > 4 {
		t.Errorf("Reloads() = %d, want 3 or 4", n)
	}
	if r.server.ID() != serverID || !r.server.NotAfter().Equal(leaf3.cert.NotAfter) {
		t.Errorf("ID %q, NotAfter %v after rotation", r.server.ID(), r.server.NotAfter())
	}
}

// TestRotationNotYetValid: a certificate whose validity starts a moment
// after it was written (an issuer whose clock runs ahead) is refused while it
// is early and installed once it is valid, with no further change to the
// files: the watcher keeps polling what heals with time (filewatch.Loop's
// retry), where it would otherwise park after the write.
func TestRotationNotYetValid(t *testing.T) {
	ca := newCA(t, "ca")
	leafA := ca.issue(t, serverID)
	r := newRotationRig(t, leafA, bundle(ca), loadOwnCA(t, ca, clientID))
	r.waitFor("initial", leafA)
	// x509 times have whole seconds: 2 s ahead is early for at least 1 s.
	early := ca.issue(t, serverID, validity(time.Now().Add(2*time.Second), time.Now().Add(time.Hour)))
	replaceFile(t, r.p.key, early.keyPEM)
	replaceFile(t, r.p.cert, early.certPEM)
	if got := r.connect(); got != leafA.cert.SerialNumber.String() {
		t.Fatalf("a certificate not valid yet was installed (serial %s)", got)
	}
	r.waitFor("valid now", early)
}

// TestRotationHalfWritten writes the files the way a careless writer does,
// one at a time and in place. The old identity must stay in use, with no
// failed handshake, until certificate and key match again.
func TestRotationHalfWritten(t *testing.T) {
	ca := newCA(t, "ca")
	leafA, leafB := ca.issue(t, serverID), ca.issue(t, serverID)
	r := newRotationRig(t, leafA, bundle(ca), loadOwnCA(t, ca, clientID))

	// stays connects for at least three polls and until the inconsistent
	// files have been reported, checking that leafA is served throughout.
	stays := func(step string, wantErrs int) {
		t.Helper()
		start := time.Now()
		for {
			if got := r.connect(); got != leafA.cert.SerialNumber.String() {
				t.Fatalf("%s: the server presents serial %s, want the old %s", step, got, leafA.cert.SerialNumber)
			}
			_, errs := r.rec.counts()
			if errs >= wantErrs && time.Since(start) >= 3*50*time.Millisecond {
				return
			}
			if time.Since(start) > reloadDeadline {
				t.Fatalf("%s: no error reported after %v", step, reloadDeadline)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	if err := os.WriteFile(r.p.cert, leafB.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	stays("new certificate, old key", 1)
	if err := os.WriteFile(r.p.key, leafB.keyPEM[:len(leafB.keyPEM)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	stays("half the new key", 2)
	if err := os.WriteFile(r.p.key, leafB.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r.waitFor("whole new key", leafB)

	errs := r.rec.errors()
	if len(errs) != 2 ||
		!strings.Contains(errs[0].Error(), "identity.keyFile "+r.p.key+": the private key does not match") ||
		!strings.Contains(errs[1].Error(), "identity.keyFile "+r.p.key+": 1 of 1 PEM blocks are truncated") {
		t.Errorf("reported errors %v", errs)
	}
	if reloads, _ := r.rec.counts(); reloads != 1 || r.server.Reloads() != 1 {
		t.Errorf("%d reloads reported, Reloads() = %d; want 1", reloads, r.server.Reloads())
	}
}

// TestPollReporting steps the poller by hand: a bad set is reported once,
// on its second consecutive poll, and never replaces good material.
func TestPollReporting(t *testing.T) {
	ca := newCA(t, "ca")
	leafA, leafB := ca.issue(t, serverID), ca.issue(t, serverID)
	p := writeIdentity(t, t.TempDir(), leafA.certPEM, leafA.keyPEM, bundle(ca))
	s, err := Load(p.cert, p.key, p.ca)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var st pollState
	write := func(path string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(step string, wantReloads, wantErrs int) {
		t.Helper()
		s.poll(&st, rec.onReload, rec.onError)
		if reloads, errs := rec.counts(); reloads != wantReloads || errs != wantErrs {
			t.Fatalf("%s: %d reloads, %d errors; want %d, %d", step, reloads, errs, wantReloads, wantErrs)
		}
	}

	expect("unchanged", 0, 0)
	write(p.cert, leafB.certPEM)
	expect("key mismatch, first poll", 0, 0)
	expect("key mismatch, second poll", 0, 1)
	expect("key mismatch, third poll", 0, 1)
	write(p.key, leafB.keyPEM[:40])
	expect("truncated key, first poll", 0, 1)
	expect("truncated key, second poll", 0, 2)
	if err := os.Remove(p.key); err != nil {
		t.Fatal(err)
	}
	expect("missing key, first poll", 0, 2)
	expect("missing key, second poll", 0, 3)
	if fe, ok := errors.AsType[*FileError](rec.errors()[2]); !ok || fe.Field != "keyFile" || !errors.Is(fe, os.ErrNotExist) {
		t.Errorf("missing key reported as %v", rec.errors()[2])
	}
	if !s.cur.Load().cert.Leaf.Equal(leafA.cert) {
		t.Fatal("bad sets replaced the material")
	}
	write(p.key, leafB.keyPEM)
	expect("complete set", 1, 3)
	expect("unchanged again", 1, 3)
	if s.Reloads() != 1 || !s.NotAfter().Equal(leafB.cert.NotAfter) {
		t.Errorf("Reloads %d, NotAfter %v", s.Reloads(), s.NotAfter())
	}

	// Bad for one poll, then back to the current content, then bad again:
	// the count starts over.
	write(p.ca, []byte("garbage"))
	expect("garbage CA, first poll", 1, 3)
	write(p.ca, bundle(ca))
	expect("CA restored", 1, 3)
	write(p.ca, []byte("garbage"))
	expect("garbage CA again, first poll", 1, 3)
	expect("garbage CA again, second poll", 1, 4)
}

func TestStartStop(t *testing.T) {
	ca := newCA(t, "ca")
	leafA, leafB := ca.issue(t, serverID), ca.issue(t, serverID)
	p := writeIdentity(t, t.TempDir(), leafA.certPEM, leafA.keyPEM, bundle(ca))
	s, err := Load(p.cert, p.key, p.ca)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s.Start(10*time.Millisecond, rec.onReload, rec.onError)
	s.Start(10*time.Millisecond, nil, nil) // already polling: no second poller
	s.Stop()
	s.Stop()

	replaceFile(t, p.cert, leafB.certPEM)
	replaceFile(t, p.key, leafB.keyPEM)
	time.Sleep(100 * time.Millisecond)
	if s.Reloads() != 0 {
		t.Fatal("a stopped Source reloaded")
	}

	s.Start(10*time.Millisecond, rec.onReload, rec.onError)
	defer s.Stop()
	deadline := time.Now().Add(reloadDeadline)
	for s.Reloads() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no reload within %v of Start", reloadDeadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if reloads, errs := rec.counts(); reloads != 1 || errs != 0 {
		t.Errorf("%d reloads, %d errors reported", reloads, errs)
	}
}
