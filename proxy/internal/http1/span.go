package http1

// Span is a byte range [Start, End) inside the buffer that was parsed.
// int32 offsets keep Header at 16 bytes; heads are bounded far below 2 GiB.
type Span struct{ Start, End int32 }

// Len returns the number of bytes in the span.
func (s Span) Len() int { return int(s.End - s.Start) }

// Bytes returns buf[s.Start:s.End]. buf must be the buffer that was parsed.
func (s Span) Bytes(buf []byte) []byte { return buf[s.Start:s.End] }

// IsEmpty reports whether the span covers no bytes.
func (s Span) IsEmpty() bool { return s.End <= s.Start }

// span builds a Span from int offsets. Callers guarantee that the offsets fit
// in int32 (heads are limited to at most math.MaxInt32 bytes).
func span(start, end int) Span { return Span{Start: int32(start), End: int32(end)} }

// Header is one field line of a head.
type Header struct {
	Name  Span // field-name as received (case preserved)
	Value Span // field-value with leading and trailing OWS trimmed
}
