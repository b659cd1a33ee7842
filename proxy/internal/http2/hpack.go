package http2

import (
	"errors"
	"fmt"
)

// HPACK (RFC 7541) for the event-loop codec: header blocks decode into
// offsets over one reused buffer (Fields) and encode by appending to the
// caller's buffer, so a connection in steady state allocates nothing. The
// dynamic tables are rings over one byte slice each (hpack_table.go).

// Span locates bytes in Fields.Buf.
type Span struct{ Off, Len uint32 }

// Field is one decoded header field.
type Field struct {
	Name, Value Span
	Sensitive   bool // encoded "never indexed": must be re-encoded the same way when forwarded
}

// Fields is a decoded header list: every name and value byte in Buf, fields in order.
type Fields struct {
	Buf  []byte
	List []Field
	Size uint32 // RFC 9113 §6.5.2 list size: sum of len(name)+len(value)+32
}

// Reset empties f, keeping its memory for the next header block.
func (f *Fields) Reset() {
	f.Buf = f.Buf[:0]
	f.List = f.List[:0]
	f.Size = 0
}

// Name is the name of field i (a view into f.Buf).
func (f *Fields) Name(i int) []byte {
	s := f.List[i].Name
	return f.Buf[s.Off : s.Off+s.Len]
}

// Value is the value of field i (a view into f.Buf).
func (f *Fields) Value(i int) []byte {
	s := f.List[i].Value
	return f.Buf[s.Off : s.Off+s.Len]
}

var (
	// ErrListTooLarge: the decoded header list is larger than the caller's
	// limit (SETTINGS_MAX_HEADER_LIST_SIZE); the block was still decoded in
	// full, so the connection's compression state is intact.
	ErrListTooLarge = errors.New("hpack: header list larger than the limit")
	// ErrCompression: the block is malformed; for HTTP/2 a connection error
	// of type COMPRESSION_ERROR, since the dynamic table can no longer be
	// trusted.
	ErrCompression = errors.New("hpack: compression error")

	errIndex          = fmt.Errorf("%w: index 0 or beyond the static and dynamic tables", ErrCompression)
	errInteger        = fmt.Errorf("%w: integer above 2^32-1 or longer than 10 bytes", ErrCompression)
	errTruncated      = fmt.Errorf("%w: block ends inside a representation", ErrCompression)
	errStringLength   = fmt.Errorf("%w: string longer than the rest of the block", ErrCompression)
	errHuffman        = fmt.Errorf("%w: invalid Huffman code (EOS, or padding longer than 7 bits or not all ones)", ErrCompression)
	errSizeUpdate     = fmt.Errorf("%w: dynamic table size update above SETTINGS_HEADER_TABLE_SIZE", ErrCompression)
	errLateSizeUpdate = fmt.Errorf("%w: dynamic table size update after a header field", ErrCompression)
)

// staticTable is RFC 7541 Appendix A; index i is staticTable[i-1].
var staticTable = [61]struct{ name, value string }{
	{":authority", ""},
	{":method", "GET"},
	{":method", "POST"},
	{":path", "/"},
	{":path", "/index.html"},
	{":scheme", "http"},
	{":scheme", "https"},
	{":status", "200"},
	{":status", "204"},
	{":status", "206"},
	{":status", "304"},
	{":status", "400"},
	{":status", "404"},
	{":status", "500"},
	{"accept-charset", ""},
	{"accept-encoding", "gzip, deflate"},
	{"accept-language", ""},
	{"accept-ranges", ""},
	{"accept", ""},
	{"access-control-allow-origin", ""},
	{"age", ""},
	{"allow", ""},
	{"authorization", ""},
	{"cache-control", ""},
	{"content-disposition", ""},
	{"content-encoding", ""},
	{"content-language", ""},
	{"content-length", ""},
	{"content-location", ""},
	{"content-range", ""},
	{"content-type", ""},
	{"cookie", ""},
	{"date", ""},
	{"etag", ""},
	{"expect", ""},
	{"expires", ""},
	{"from", ""},
	{"host", ""},
	{"if-match", ""},
	{"if-modified-since", ""},
	{"if-none-match", ""},
	{"if-range", ""},
	{"if-unmodified-since", ""},
	{"last-modified", ""},
	{"link", ""},
	{"location", ""},
	{"max-forwards", ""},
	{"proxy-authenticate", ""},
	{"proxy-authorization", ""},
	{"range", ""},
	{"referer", ""},
	{"refresh", ""},
	{"retry-after", ""},
	{"server", ""},
	{"set-cookie", ""},
	{"strict-transport-security", ""},
	{"transfer-encoding", ""},
	{"user-agent", ""},
	{"vary", ""},
	{"via", ""},
	{"www-authenticate", ""},
}

// staticByName maps a name to its first (lowest) static index; entries with
// the same name are adjacent, so the encoder scans on from there for a
// value match. A lookup with m[string(b)] does not allocate.
var staticByName = func() map[string]uint8 {
	m := make(map[string]uint8, len(staticTable))
	for i := len(staticTable) - 1; i >= 0; i-- {
		m[staticTable[i].name] = uint8(i + 1)
	}
	return m
}()

// staticFind returns the static index of (name, value) if both match, else
// of the name alone (full false), else 0.
func staticFind(name, value []byte) (idx uint32, full bool) {
	first, ok := staticByName[string(name)]
	if !ok {
		return 0, false
	}
	for i := int(first) - 1; i < len(staticTable) && staticTable[i].name == string(name); i++ {
		if staticTable[i].value == string(value) {
			return uint32(i + 1), true
		}
	}
	return uint32(first), false
}

// entryOverhead is RFC 7541 §4.1's per-entry size beyond name and value,
// also RFC 9113 §6.5.2's per-field overhead in a header list's size.
const entryOverhead = 32

// defaultTableSize is SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2).
const defaultTableSize = 4096

// readInt decodes an RFC 7541 §5.1 integer with an n-bit prefix starting at
// block[p] (which exists), returning it and the offset after it. Beyond the
// prefix at most 9 bytes are read, the same bound as the reference decoder
// (golang.org/x/net/http2/hpack), so redundant zero continuation bytes are
// accepted alike; values that do not fit 32 bits are errors, as every HPACK
// integer (index, length, table size) is bounded by a 32-bit setting.
func readInt(block []byte, p int, n uint) (uint32, int, error) {
	mask := uint32(1)<<n - 1
	v := uint32(block[p]) & mask
	p++
	if v < mask {
		return v, p, nil
	}
	x := uint64(v)
	for k := uint(0); k < 9; k++ {
		if p >= len(block) {
			return 0, p, errTruncated
		}
		b := block[p]
		p++
		x += uint64(b&0x7f) << (7 * k)
		if b&0x80 == 0 {
			if x > 1<<32-1 {
				return 0, p, errInteger
			}
			return uint32(x), p, nil
		}
	}
	return 0, p, errInteger
}

// appendInt appends v as an RFC 7541 §5.1 integer with an n-bit prefix; first
// holds the representation's flag bits above the prefix.
func appendInt(dst []byte, first byte, n uint, v uint32) []byte {
	mask := uint32(1)<<n - 1
	if v < mask {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(mask))
	v -= mask
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}
