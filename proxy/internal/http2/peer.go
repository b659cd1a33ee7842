package http2

// PeerMaxStreams is the peer's SETTINGS_MAX_CONCURRENT_STREAMS (100 until
// its SETTINGS arrive): how many streams a client may have open at once.
func (c *Conn) PeerMaxStreams() int { return int(c.peerMaxStreams) }

// Closed reports whether s has ended both ways (or was reset) and is back
// with its Conn.
func (s *Stream) Closed() bool { return !s.active }
