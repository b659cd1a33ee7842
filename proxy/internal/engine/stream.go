package engine

import "github.com/panjf2000/gnet/v2"

// stream is a connection's byte stream as the HTTP layer sees it: gnet's
// own buffers for plaintext, or the decrypted buffer of a TLS session that
// runs on the same loop. Branching on tls keeps the plaintext path free of
// interface calls.
type stream struct {
	c   gnet.Conn
	tls *tlsSession // nil: plaintext
}

// peek returns every buffered plaintext byte; valid until the next discard
// or until the callback returns.
func (s *stream) peek() []byte {
	if s.tls == nil {
		b, _ := s.c.Peek(-1)
		return b
	}
	return s.tls.peek()
}

// discard drops the first n buffered bytes. n <= 0 drops nothing: gnet's
// Discard(0) would drop everything buffered, and a codec that consumed no
// byte (an incomplete frame) must find it again with the next bytes.
func (s *stream) discard(n int) {
	if n <= 0 {
		return
	}
	if s.tls == nil {
		_, _ = s.c.Discard(n)
		return
	}
	s.tls.discard(n)
}

// discardAll drops everything buffered, decrypted or not.
func (s *stream) discardAll() {
	if s.tls != nil {
		s.tls.r, s.tls.w = 0, 0
	}
	_, _ = s.c.Discard(-1)
}

// buffered counts the bytes held for this connection's input, ciphertext
// included: it is what the buffer limits bound.
func (s *stream) buffered() int {
	n := s.c.InboundBuffered()
	if s.tls != nil {
		n += s.tls.w - s.tls.r
	}
	return n
}

// write sends p to the peer (encrypting it when TLS). A failed write closes
// the connection synchronously (gnet calls OnClose).
func (s *stream) write(p []byte) {
	if s.tls == nil {
		_, _ = s.c.Write(p)
		return
	}
	s.tls.write(p)
}

// outbound counts bytes queued for the peer.
func (s *stream) outbound() int { return s.c.OutboundBuffered() }

// failed reports a broken TLS session (bad record, peer's close_notify).
func (s *stream) failed() error {
	if s.tls == nil {
		return nil
	}
	return s.tls.err
}
