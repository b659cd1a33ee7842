package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// TLS on the event loop, with all cryptography left to crypto/tls.
//
// crypto/tls is written for blocking connections, so a session has two
// phases. The handshake runs on its own goroutine: the loop hands it the
// bytes that arrive (bridge.feed) and its writes go out through gnet's
// concurrency-safe AsyncWrite, so a slow or hostile peer never stalls the
// loop. Once the handshake is done the loop takes over the same tls.Conn:
// its reads come straight from gnet's inbound buffer and, when that is
// empty, fail with a temporary error — crypto/tls does not make temporary
// errors sticky, so the next Read resumes where the record left off — and
// its writes go straight to gnet's Write. Records are therefore decrypted
// and encrypted on the loop, in the callback that moved the bytes.

// errWouldBlock is what the bridge returns on the loop when no ciphertext is
// buffered. It is a temporary net.Error, which crypto/tls does not record
// as the connection's failure.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// bridge is the net.Conn under a tls.Conn whose socket belongs to gnet.
type bridge struct {
	c             gnet.Conn
	local, remote net.Addr

	mu     sync.Mutex
	cond   sync.Cond
	hs     []byte // bytes received while the handshake goroutine runs (and any it left unread)
	closed bool
	onLoop bool // handshake finished: reads and writes happen on the loop
	rec    int  // bytes of the current record not yet handed to crypto/tls

	// collect gathers the records of one tls.Conn.Write so they leave in a
	// single gnet write (one syscall) instead of one per record.
	collect bool
	out     []byte
}

func newBridge(c gnet.Conn) *bridge {
	b := &bridge{c: c, local: c.LocalAddr(), remote: c.RemoteAddr()}
	b.cond.L = &b.mu
	return b
}

// feed passes bytes received during the handshake to its goroutine.
func (b *bridge) feed(p []byte) {
	b.mu.Lock()
	b.hs = append(b.hs, p...)
	b.mu.Unlock()
	b.cond.Signal()
}

func (b *bridge) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.onLoop {
		b.mu.Unlock()
		return b.readRecord(p)
	}
	// The handshake goroutine is framed too: crypto/tls must not swallow
	// the first records after the handshake, or the loop could not tell
	// that they are waiting inside it.
	defer b.mu.Unlock()
	for {
		if b.rec == 0 && len(b.hs) >= recordHeaderLen {
			b.rec = recordLen(b.hs)
		}
		if b.rec > 0 && len(b.hs) > 0 {
			break
		}
		if b.closed {
			return 0, io.EOF
		}
		b.cond.Wait()
	}
	if len(p) > b.rec {
		p = p[:b.rec]
	}
	n := copy(p, b.hs)
	b.hs = b.hs[n:]
	b.rec -= n
	return n, nil
}

// recordLen is the length of the TLS record whose header starts hdr.
func recordLen(hdr []byte) int {
	return recordHeaderLen + (int(hdr[3])<<8 | int(hdr[4]))
}

// readRecord hands crypto/tls at most the rest of one complete record, so
// it never buffers part of the next one: then the loop knows, by looking at
// the record headers in front of it, whether a Read will find a record,
// and never calls Read only to be told "would block" (each such call costs
// crypto/tls an allocation).
func (b *bridge) readRecord(p []byte) (int, error) {
	if b.rec == 0 && !b.frame() {
		return 0, errWouldBlock
	}
	if len(p) > b.rec {
		p = p[:b.rec]
	}
	var n int
	if len(b.hs) > 0 { // bytes that arrived during the handshake come first
		n = copy(p, b.hs)
		b.hs = b.hs[n:]
	} else {
		n, _ = b.c.Read(p)
	}
	b.rec -= n
	return n, nil
}

// frame starts the next record if all of it has arrived. On the loop only.
func (b *bridge) frame() bool {
	if b.rec > 0 {
		return true
	}
	avail := len(b.hs) + b.c.InboundBuffered()
	if avail < recordHeaderLen {
		return false
	}
	var hdr [recordHeaderLen]byte
	k := copy(hdr[:], b.hs)
	if k < recordHeaderLen {
		rest, err := b.c.Peek(recordHeaderLen - k)
		if err != nil {
			return false
		}
		copy(hdr[k:], rest)
	}
	l := recordLen(hdr[:])
	if avail < l {
		return false
	}
	b.rec = l
	return true
}

// recordHeaderLen is a TLS record header: type, version (2), length (2).
const recordHeaderLen = 5

func (b *bridge) Write(p []byte) (int, error) {
	b.mu.Lock()
	onLoop, closed := b.onLoop, b.closed
	b.mu.Unlock()
	if closed && !onLoop {
		return 0, net.ErrClosed
	}
	if onLoop {
		if b.collect {
			b.out = append(b.out, p...)
		} else {
			_, _ = b.c.Write(p)
		}
		return len(p), nil
	}
	// Handshake goroutine: crypto/tls reuses p, and AsyncWrite sends later.
	cp := make([]byte, len(p))
	copy(cp, p)
	if err := b.c.AsyncWrite(cp, nil); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close wakes a blocked handshake read; the socket itself is gnet's to close.
func (b *bridge) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cond.Broadcast()
	return nil
}

func (b *bridge) LocalAddr() net.Addr              { return b.local }
func (b *bridge) RemoteAddr() net.Addr             { return b.remote }
func (b *bridge) SetDeadline(time.Time) error      { return nil }
func (b *bridge) SetReadDeadline(time.Time) error  { return nil }
func (b *bridge) SetWriteDeadline(time.Time) error { return nil }

// tlsSession is the TLS state of one connection plus its decrypted input.
type tlsSession struct {
	conn *tls.Conn
	br   *bridge

	plain []byte // decrypted bytes are plain[r:w]
	r, w  int
	max   int // plain never grows beyond this

	handshaking bool
	peerID      string
	resumed     bool
	more        bool  // the last Read filled plain: crypto/tls may hold more plaintext
	err         error // the session failed (bad record, close_notify): close the connection
}

// plainInitial is the decrypted buffer a session starts with; it grows to
// hold a large request head, up to the head limit plus one record.
const plainInitial = 4 << 10

func newTLSSession(c gnet.Conn, conn func(net.Conn) *tls.Conn, maxHead int) *tlsSession {
	br := newBridge(c)
	return &tlsSession{conn: conn(br), br: br, handshaking: true, max: maxHead + 16<<10}
}

// startHandshake runs the handshake off the loop and reports its outcome on
// the loop through done.
func (t *tlsSession) startHandshake(el gnet.EventLoop, timeout time.Duration, done func(error)) {
	t.startHandshakeDelayed(el, timeout, 0, done)
}

// TestInboundHandshakeDelay, when set (tests only, nanoseconds), holds back
// the result of every inbound (server) handshake that long after it
// finished: application data the client sends right behind its Finished
// then arrives while the handshake goroutine still owns the connection,
// the window feedHandshake must survive. Zero in production.
var TestInboundHandshakeDelay atomic.Int64

// startHandshakeDelayed is startHandshake with the result held back for
// delay after the handshake finished.
func (t *tlsSession) startHandshakeDelayed(el gnet.EventLoop, timeout, delay time.Duration, done func(error)) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := t.conn.HandshakeContext(ctx)
		cancel()
		if delay > 0 {
			time.Sleep(delay)
		}
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			done(err)
			return nil
		}))
	}()
}

// handshakeDone switches the session to the loop. Called on the loop.
func (t *tlsSession) handshakeDone() {
	t.br.mu.Lock()
	t.br.onLoop = true
	t.br.mu.Unlock()
	t.handshaking = false
	t.plain = make([]byte, plainInitial)
	st := t.conn.ConnectionState()
	t.resumed = st.DidResume
}

// maxHandshakeBuffer bounds what a peer can make the proxy hold before the
// handshake completes (a TLS 1.3 handshake is a few KiB).
const maxHandshakeBuffer = 256 << 10

// feedHandshake moves newly arrived bytes to the handshake goroutine, at
// most maxHandshakeBuffer in all. A TLS 1.3 client may send application
// data right behind its Finished, before the server's goroutine has
// finished: those bytes are legitimate, so beyond the bound the connection
// is paused (its bytes wait in gnet's buffer and the kernel) rather than
// closed, and reads resume once the handshake is done; a peer that only
// floods is closed by the handshake timeout. It reports false when the
// connection could not be paused (it is closing).
func (t *tlsSession) feedHandshake(c gnet.Conn) bool {
	buf, _ := c.Peek(-1)
	if len(buf) == 0 {
		return true
	}
	t.br.mu.Lock()
	room := maxHandshakeBuffer - len(t.br.hs)
	t.br.mu.Unlock()
	if room < len(buf) {
		buf = buf[:max(room, 0)]
		if c.PauseRead() != nil {
			return false
		}
	}
	if len(buf) > 0 {
		t.br.feed(buf)
		_, _ = c.Discard(len(buf))
	}
	return true
}

// fill decrypts buffered records into plain until no complete record is
// left or plain is full. io.EOF means the peer sent close_notify.
func (t *tlsSession) fill() error {
	for {
		if t.r == t.w {
			t.r, t.w = 0, 0
		}
		if t.w == len(t.plain) {
			if t.r > 0 {
				t.w = copy(t.plain, t.plain[t.r:t.w])
				t.r = 0
			} else if len(t.plain) < t.max {
				grown := make([]byte, min(2*len(t.plain), t.max))
				copy(grown, t.plain[:t.w])
				t.plain = grown
			} else {
				return nil // full: the rest waits as ciphertext in gnet's buffer
			}
		}
		// Call Read only when it has something to return: a complete record
		// in front of us, or decrypted bytes crypto/tls kept because the
		// last Read filled our buffer.
		if !t.more && !t.br.frame() {
			return nil
		}
		free := len(t.plain) - t.w
		n, err := t.conn.Read(t.plain[t.w:])
		t.w += n
		t.more = n == free
		if err != nil {
			if errors.Is(err, errWouldBlock) {
				return nil // a record without application data (a session ticket)
			}
			return err
		}
	}
}

// peek decrypts whatever complete records are buffered, then returns the
// plaintext. A decryption failure or close_notify is kept in err.
func (t *tlsSession) peek() []byte {
	if t.err == nil {
		t.err = t.fill()
	}
	return t.plain[t.r:t.w]
}

func (t *tlsSession) discard(n int) {
	if n < 0 || t.r+n > t.w {
		t.r = t.w
		return
	}
	t.r += n
}

// write encrypts p and sends all its records in one gnet write.
func (t *tlsSession) write(p []byte) {
	br := t.br
	br.collect = true
	_, _ = t.conn.Write(p)
	br.collect = false
	if len(br.out) > 0 {
		out := br.out
		br.out = br.out[:0]
		_, _ = br.c.Write(out)
	}
}

// closeNotify sends close_notify when the session is established, so the
// peer can tell a clean end from a cut.
func (t *tlsSession) closeNotify() {
	if !t.handshaking {
		_ = t.conn.CloseWrite()
	} else {
		_ = t.br.Close()
	}
}
