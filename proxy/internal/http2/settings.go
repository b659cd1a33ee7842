package http2

// SETTINGS parameter identifiers (RFC 9113 §6.5.2, RFC 8441 §3).
const (
	settingHeaderTableSize       = 0x1
	settingEnablePush            = 0x2
	settingMaxConcurrentStreams  = 0x3
	settingInitialWindowSize     = 0x4
	settingMaxFrameSize          = 0x5
	settingMaxHeaderListSize     = 0x6
	settingEnableConnectProtocol = 0x8
)

// Protocol constants.
const (
	defaultWindow   = 65535 // initial flow-control window of every stream and the connection
	minMaxFrameSize = 16384 // the smallest allowed SETTINGS_MAX_FRAME_SIZE, and its default
	maxMaxFrameSize = 1<<24 - 1
	maxWindow       = 1<<31 - 1
)

// Settings is what we advertise to the peer in our SETTINGS frame.
type Settings struct {
	HeaderTableSize      uint32 // HPACK dynamic table our decoder keeps (values below 4096 are raised to 4096 for decoding; see Init)
	MaxConcurrentStreams uint32 // streams the peer may open at once; more are refused with REFUSED_STREAM
	InitialWindowSize    uint32 // each stream's receive window
	MaxFrameSize         uint32 // largest frame payload we accept
	MaxHeaderListSize    uint32 // largest decoded header list (RFC 9113 §6.5.2 size) we accept
	// ConnWindowSize is our connection receive window, announced with a
	// WINDOW_UPDATE on stream 0 right after SETTINGS (RFC 9113 §6.9.2: the
	// connection window cannot be set by SETTINGS).
	ConnWindowSize uint32
	// EnableConnectProtocol advertises RFC 8441 extended CONNECT (server
	// role): requests may then carry :protocol (WebSocket over HTTP/2).
	EnableConnectProtocol bool
}

// DefaultSettings are meshproxy's defaults: windows large enough for a
// fast hop (256 KiB a stream, 1 MiB the connection) while the engine, not
// this package, holds the bytes; 100 concurrent streams as nghttp2 and
// Envoy's recommended edge configuration; 64 KiB of header list, about
// Envoy's 60 KiB max_request_headers_kb.
func DefaultSettings() Settings {
	return Settings{
		HeaderTableSize:      4096,
		MaxConcurrentStreams: 100,
		InitialWindowSize:    256 << 10,
		MaxFrameSize:         minMaxFrameSize,
		MaxHeaderListSize:    64 << 10,
		ConnWindowSize:       1 << 20,
	}
}

// normalize brings s into the ranges RFC 9113 allows, taking defaults for
// zero values, so a zero Settings works.
func (s Settings) normalize() Settings {
	d := DefaultSettings()
	if s.HeaderTableSize == 0 {
		s.HeaderTableSize = d.HeaderTableSize
	}
	if s.MaxConcurrentStreams == 0 {
		s.MaxConcurrentStreams = d.MaxConcurrentStreams
	}
	if s.InitialWindowSize == 0 {
		s.InitialWindowSize = d.InitialWindowSize
	}
	if s.InitialWindowSize > maxWindow {
		s.InitialWindowSize = maxWindow
	}
	if s.MaxFrameSize < minMaxFrameSize {
		s.MaxFrameSize = minMaxFrameSize
	}
	if s.MaxFrameSize > maxMaxFrameSize {
		s.MaxFrameSize = maxMaxFrameSize
	}
	if s.MaxHeaderListSize == 0 {
		s.MaxHeaderListSize = d.MaxHeaderListSize
	}
	if s.ConnWindowSize < defaultWindow {
		s.ConnWindowSize = d.ConnWindowSize
	}
	if s.ConnWindowSize > maxWindow {
		s.ConnWindowSize = maxWindow
	}
	return s
}

// Limits bound what a peer can make a connection spend. Zero fields take
// the value of DefaultLimits.
type Limits struct {
	// MaxHeaderBlock bounds a header block's compressed bytes (HEADERS plus
	// its CONTINUATIONs). 0: twice Settings.MaxHeaderListSize, which a
	// block that decodes within the list limit never needs (a literal field
	// costs at most a few bytes more than the 32 the list size charges it,
	// and encoders use Huffman only when shorter). Over it: GOAWAY
	// ENHANCE_YOUR_CALM, since an unread block leaves HPACK out of sync.
	MaxHeaderBlock uint32
	// MaxContinuations bounds the CONTINUATION frames of one block
	// (CVE-2024-27316: empty or tiny CONTINUATIONs cost CPU without
	// growing the block). nghttp2 allows 8; we allow 16 so a peer with
	// small frames still fits a full header list.
	MaxContinuations int
	// Rapid reset (CVE-2023-44487), as Envoy bounds it: once
	// RapidResetMinStreams peer streams have closed, a share of peer resets
	// before our response completed at or above RapidResetPercent ends the
	// connection with ENHANCE_YOUR_CALM; before that, reaching
	// RapidResetPercent of RapidResetMinStreams does (the ratio could no
	// longer fall below the threshold). Envoy: 500 streams, 50 %.
	RapidResetMinStreams uint32
	RapidResetPercent    uint32
	// MaxQueuedControl bounds the replies (SETTINGS ACK, PING ACK,
	// RST_STREAM) queued while the socket has a backlog, as x/net's
	// maxQueuedControlFrames (10000): a peer that floods PING or SETTINGS
	// without reading the answers is closed with ENHANCE_YOUR_CALM.
	MaxQueuedControl int
	// MaxPending bounds Pending() plus the socket backlog Flushed reports.
	// WriteData takes no more than fits; a control reply that would not
	// fit ends the connection (ViolationPendingOverflow).
	MaxPending int
	// MaxEmptyFrames bounds consecutive DATA/HEADERS/CONTINUATION frames
	// without payload and without END_STREAM (CVE-2019-9518); Envoy's
	// max_consecutive_inbound_frames_with_empty_payload defaults to 1.
	MaxEmptyFrames int
}

// DefaultLimits are the documented defaults of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxContinuations:     16,
		RapidResetMinStreams: 500,
		RapidResetPercent:    50,
		MaxQueuedControl:     10000,
		MaxPending:           1 << 20,
		MaxEmptyFrames:       1,
	}
}

func (l Limits) normalize(s Settings) Limits {
	d := DefaultLimits()
	if l.MaxHeaderBlock == 0 {
		l.MaxHeaderBlock = 2 * s.MaxHeaderListSize
		if l.MaxHeaderBlock < minMaxFrameSize {
			l.MaxHeaderBlock = minMaxFrameSize
		}
	}
	if l.MaxContinuations == 0 {
		l.MaxContinuations = d.MaxContinuations
	}
	if l.RapidResetMinStreams == 0 {
		l.RapidResetMinStreams = d.RapidResetMinStreams
	}
	if l.RapidResetPercent == 0 {
		l.RapidResetPercent = d.RapidResetPercent
	}
	if l.MaxQueuedControl == 0 {
		l.MaxQueuedControl = d.MaxQueuedControl
	}
	if l.MaxPending == 0 {
		l.MaxPending = d.MaxPending
	}
	if l.MaxEmptyFrames == 0 {
		l.MaxEmptyFrames = d.MaxEmptyFrames
	}
	return l
}
