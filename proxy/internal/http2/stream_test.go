package http2

import "testing"

func makeFields(kv ...string) *Fields {
	f := &Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		off := uint32(len(f.Buf))
		f.Buf = append(f.Buf, kv[i]...)
		f.Buf = append(f.Buf, kv[i+1]...)
		f.List = append(f.List, Field{Name: Span{off, uint32(len(kv[i]))}, Value: Span{off + uint32(len(kv[i])), uint32(len(kv[i+1]))}})
	}
	return f
}

// TestCheckFields: RFC 9113 §8.2-8.3 (and RFC 8441) rules, one row each.
func TestCheckFields(t *testing.T) {
	req := []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a"}
	with := func(extra ...string) []string { return append(append([]string(nil), req...), extra...) }
	for _, tc := range []struct {
		name    string
		kind    blockKind
		connect bool
		kv      []string
		ok      bool
	}{
		{"request", kindRequest, false, with("accept", "*/*"), true},
		{"upper-case name", kindRequest, false, with("Accept", "x"), false},
		{"space in name", kindRequest, false, with("a b", "x"), false},
		{"colon in name", kindRequest, false, with("a:b", "x"), false},
		{"non-ASCII name", kindRequest, false, with("\xc3\xa9", "x"), false},
		{"empty name", kindRequest, false, with("", "x"), false},
		{"connection", kindRequest, false, with("connection", "keep-alive"), false},
		{"keep-alive", kindRequest, false, with("keep-alive", "5"), false},
		{"proxy-connection", kindRequest, false, with("proxy-connection", "x"), false},
		{"transfer-encoding", kindRequest, false, with("transfer-encoding", "chunked"), false},
		{"upgrade", kindRequest, false, with("upgrade", "websocket"), false},
		{"te trailers", kindRequest, false, with("te", "trailers"), true},
		{"te gzip", kindRequest, false, with("te", "gzip"), false},
		{"CR in value", kindRequest, false, with("x", "a\rb"), false},
		{"LF in value", kindRequest, false, with("x", "a\nb"), false},
		{"NUL in value", kindRequest, false, with("x", "a\x00b"), false},
		{"leading space", kindRequest, false, with("x", " a"), false},
		{"trailing tab", kindRequest, false, with("x", "a\t"), false},
		{"inner space", kindRequest, false, with("x", "a b"), true},
		{"pseudo after regular", kindRequest, false, []string{":method", "GET", ":scheme", "http", "x", "1", ":path", "/"}, false},
		{"duplicate :path", kindRequest, false, with(":path", "/b"), false},
		{"unknown pseudo", kindRequest, false, with(":foo", "x"), false},
		{":status in request", kindRequest, false, with(":status", "200"), false},
		{"no :method", kindRequest, false, []string{":scheme", "http", ":path", "/"}, false},
		{"no :scheme", kindRequest, false, []string{":method", "GET", ":path", "/"}, false},
		{"no :path", kindRequest, false, []string{":method", "GET", ":scheme", "http"}, false},
		{"empty :path", kindRequest, false, []string{":method", "GET", ":scheme", "http", ":path", ""}, false},
		{"CONNECT", kindRequest, false, []string{":method", "CONNECT", ":authority", "a:443"}, true},
		{"CONNECT with :path", kindRequest, false, []string{":method", "CONNECT", ":authority", "a:443", ":path", "/"}, false},
		{"CONNECT without :authority", kindRequest, false, []string{":method", "CONNECT"}, false},
		{"extended CONNECT", kindRequest, true, []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/c", ":authority", "a"}, true},
		{"extended CONNECT not enabled", kindRequest, false, []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/c", ":authority", "a"}, false},
		{":protocol on GET", kindRequest, true, []string{":method", "GET", ":protocol", "websocket", ":scheme", "https", ":path", "/c", ":authority", "a"}, false},
		{"extended CONNECT without :path", kindRequest, true, []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a"}, false},
		{"content-length", kindRequest, false, with("content-length", "12"), true},
		{"content-length twice, equal", kindRequest, false, with("content-length", "12", "content-length", "12"), true},
		{"content-length twice, different", kindRequest, false, with("content-length", "12", "content-length", "13"), false},
		{"content-length not a number", kindRequest, false, with("content-length", "1x"), false},
		{"content-length negative", kindRequest, false, with("content-length", "-1"), false},
		{"response", kindResponse, false, []string{":status", "204", "server", "x"}, true},
		{"response without :status", kindResponse, false, []string{"server", "x"}, false},
		{"response with :method", kindResponse, false, []string{":status", "200", ":method", "GET"}, false},
		{"status 2 digits", kindResponse, false, []string{":status", "20"}, false},
		{"status not digits", kindResponse, false, []string{":status", "2x0"}, false},
		{"status 101", kindResponse, false, []string{":status", "101"}, false},
		{"status 099", kindResponse, false, []string{":status", "099"}, false},
		{"trailers", kindTrailers, false, []string{"grpc-status", "0"}, true},
		{"pseudo in trailers", kindTrailers, false, []string{":status", "200"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Head
			f := makeFields(tc.kv...)
			if ok := checkFields(f, tc.kind, tc.connect, &h); ok != tc.ok {
				t.Errorf("checkFields = %v, want %v", ok, tc.ok)
			}
		})
	}
	var h Head
	f := makeFields(with("content-length", "42")...)
	if !checkFields(f, kindRequest, false, &h) || string(f.Bytes(h.Method)) != "GET" || string(f.Bytes(h.Path)) != "/" ||
		string(f.Bytes(h.Authority)) != "a" || h.NPseudo != 4 || h.ContentLength != 42 || h.Has&PseudoProtocol != 0 {
		t.Errorf("head %+v", h)
	}
}
