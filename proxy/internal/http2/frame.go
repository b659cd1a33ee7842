package http2

import "encoding/binary"

// FrameType is an HTTP/2 frame type (RFC 9113 §6).
type FrameType uint8

const (
	FrameData         FrameType = 0x0
	FrameHeaders      FrameType = 0x1
	FramePriority     FrameType = 0x2
	FrameRSTStream    FrameType = 0x3
	FrameSettings     FrameType = 0x4
	FramePushPromise  FrameType = 0x5
	FramePing         FrameType = 0x6
	FrameGoAway       FrameType = 0x7
	FrameWindowUpdate FrameType = 0x8
	FrameContinuation FrameType = 0x9
)

// Frame flags (RFC 9113 §6). ACK and END_STREAM share a bit.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// frameHeaderLen is the fixed 9-octet frame header (RFC 9113 §4.1).
const frameHeaderLen = 9

// ClientPreface is what a client sends before its first frame (RFC 9113 §3.4).
const ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// frameHeader is a parsed 9-octet frame header.
type frameHeader struct {
	length   uint32
	typ      FrameType
	flags    uint8
	streamID uint32
}

// parseFrameHeader reads the header at the start of b (len(b) >= 9). The
// reserved bit of the stream id is ignored, as RFC 9113 §4.1 requires.
func parseFrameHeader(b []byte) frameHeader {
	return frameHeader{
		length:   uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:      FrameType(b[3]),
		flags:    b[4],
		streamID: binary.BigEndian.Uint32(b[5:9]) & 0x7fffffff,
	}
}

// appendFrameHeader appends a frame header; the caller appends length
// bytes of payload after it.
func appendFrameHeader(dst []byte, length int, typ FrameType, flags uint8, streamID uint32) []byte {
	return append(dst, byte(length>>16), byte(length>>8), byte(length), byte(typ), flags,
		byte(streamID>>24), byte(streamID>>16), byte(streamID>>8), byte(streamID))
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendRSTStream(dst []byte, streamID uint32, code ErrCode) []byte {
	dst = appendFrameHeader(dst, 4, FrameRSTStream, 0, streamID)
	return appendUint32(dst, uint32(code))
}

func appendWindowUpdate(dst []byte, streamID, inc uint32) []byte {
	dst = appendFrameHeader(dst, 4, FrameWindowUpdate, 0, streamID)
	return appendUint32(dst, inc)
}

func appendPing(dst []byte, ack bool, data []byte) []byte {
	var fl uint8
	if ack {
		fl = flagAck
	}
	dst = appendFrameHeader(dst, 8, FramePing, fl, 0)
	return append(dst, data[:8]...)
}

func appendGoAway(dst []byte, lastStreamID uint32, code ErrCode, debug string) []byte {
	dst = appendFrameHeader(dst, 8+len(debug), FrameGoAway, 0, 0)
	dst = appendUint32(dst, lastStreamID)
	dst = appendUint32(dst, uint32(code))
	return append(dst, debug...)
}

func appendSetting(dst []byte, id uint16, v uint32) []byte {
	return appendUint32(append(dst, byte(id>>8), byte(id)), v)
}

// appendSettings appends our SETTINGS frame. Values equal to the protocol
// default are sent anyway: they cost a few bytes once and make a capture
// self-explanatory.
func appendSettings(dst []byte, role Role, s Settings) []byte {
	n := 5
	if role == Client {
		n++ // ENABLE_PUSH=0
	}
	if s.EnableConnectProtocol && role == Server {
		n++
	}
	dst = appendFrameHeader(dst, 6*n, FrameSettings, 0, 0)
	dst = appendSetting(dst, settingHeaderTableSize, s.HeaderTableSize)
	if role == Client {
		// We never accept pushes: a proxy has nobody to forward them to.
		dst = appendSetting(dst, settingEnablePush, 0)
	}
	dst = appendSetting(dst, settingMaxConcurrentStreams, s.MaxConcurrentStreams)
	dst = appendSetting(dst, settingInitialWindowSize, s.InitialWindowSize)
	dst = appendSetting(dst, settingMaxFrameSize, s.MaxFrameSize)
	dst = appendSetting(dst, settingMaxHeaderListSize, s.MaxHeaderListSize)
	if s.EnableConnectProtocol && role == Server {
		dst = appendSetting(dst, settingEnableConnectProtocol, 1)
	}
	return dst
}

// stripPadding removes the Pad Length octet and the padding of a PADDED
// frame (DATA, HEADERS). ok is false when the padding is as long as the
// payload or longer: a connection error PROTOCOL_ERROR (RFC 9113 §6.1).
func stripPadding(p []byte) (rest []byte, ok bool) {
	if len(p) < 1 {
		return nil, false
	}
	pad := int(p[0])
	if pad >= len(p) {
		return nil, false
	}
	return p[1 : len(p)-pad], true
}
