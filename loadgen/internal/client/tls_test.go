package client

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

func TestHTTPSInsecureSkipVerify(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run("h2="+strconv.FormatBool(h2), func(t *testing.T) {
			s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if h2 != (r.ProtoMajor == 2) {
					t.Errorf("request over %s", r.Proto)
				}
				w.Write([]byte("secure"))
			}))
			s.EnableHTTP2 = true
			s.Config.ErrorLog = quietLog
			conns := countConns(s)
			s.StartTLS()
			defer s.Close()

			c := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: h2, TLS: &tls.Config{InsecureSkipVerify: true}})
			for i := 0; i < 10; i++ {
				if st, err := c.Do(); err != nil || st != 200 {
					t.Fatalf("Do = %d, %v", st, err)
				}
			}
			if conns.Load() != 1 || c.Reconnects() != 0 {
				t.Errorf("%d connections, %d reconnects; want 1, 0", conns.Load(), c.Reconnects())
			}

			// Without InsecureSkipVerify the self-signed certificate fails
			// the handshake.
			c2 := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: h2})
			_, err := c2.Do()
			wantKind(t, err, result.ErrConnect)
		})
	}
}

func TestMTLS(t *testing.T) {
	p := getPKI(t)
	for _, h2 := range []bool{false, true} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run("h2="+strconv.FormatBool(h2)+"/"+tls.VersionName(version), func(t *testing.T) {
				s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if len(r.TLS.PeerCertificates) == 0 {
						t.Error("no client certificate")
						return
					}
					w.Header().Set("X-Client", r.TLS.PeerCertificates[0].Subject.CommonName)
					w.WriteHeader(http.StatusAccepted)
				}))
				s.EnableHTTP2 = true
				s.Config.ErrorLog = quietLog
				s.TLS = &tls.Config{
					Certificates: []tls.Certificate{p.server},
					ClientAuth:   tls.RequireAndVerifyClientCert,
					ClientCAs:    p.pool,
					MaxVersion:   version,
				}
				s.StartTLS()
				defer s.Close()

				c := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: h2, TLS: &tls.Config{
					RootCAs:      p.pool,
					Certificates: []tls.Certificate{p.client},
				}})
				for i := 0; i < 3; i++ {
					if st, err := c.Do(); err != nil || st != http.StatusAccepted {
						t.Fatalf("Do = %d, %v", st, err)
					}
				}

				// No client certificate: the server refuses the handshake
				// (with TLS 1.3 the client learns it on its first read).
				noCert := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: h2, TLS: &tls.Config{RootCAs: p.pool}})
				for i := 0; i < 2; i++ {
					_, err := noCert.Do()
					wantKind(t, err, result.ErrConnect)
				}

				// A client that does not trust the server's CA.
				untrusting := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: h2, TLS: &tls.Config{
					Certificates: []tls.Certificate{p.client},
				}})
				_, err := untrusting.Do()
				wantKind(t, err, result.ErrConnect)
			})
		}
	}
}

// TestServerNameFromURL: with a hostname URL, the certificate is checked
// against that name (SNI and verification), even with a Host override.
func TestServerNameFromURL(t *testing.T) {
	p := getPKI(t)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.ServerName != "localhost" || r.Host != "other.test" {
			t.Errorf("SNI %q Host %q", r.TLS.ServerName, r.Host)
		}
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}}
	s.StartTLS()
	defer s.Close()
	u := mustURL(t, s.URL)
	u.Host = "localhost:" + u.Port()
	c := mustNew(t, Options{URL: u, Headers: http.Header{"Host": {"other.test"}}, TLS: &tls.Config{RootCAs: p.pool}})
	if st, err := c.Do(); err != nil || st != 200 {
		t.Fatalf("Do = %d, %v", st, err)
	}
}
