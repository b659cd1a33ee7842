package http2

// encoderTableSize bounds the encoder's dynamic table whatever the peer
// allows: it is SETTINGS_HEADER_TABLE_SIZE's default, so a peer that never
// sends the setting needs no size update, and a lookup scans at most 128
// entries (fewer in practice: see shouldIndex).
const encoderTableSize = defaultTableSize

// Encoder encodes header blocks of one connection.
type Encoder struct {
	t hpackTable
	// pending: a dynamic table size update must open the next block:
	// t.max, preceded by one to 0 if the setting was lower meanwhile
	// (minSize, the smallest since the last update, RFC 7541 §4.2).
	pending bool
	minSize uint32
}

// Init readies e for a new connection: an empty table of the size a peer's
// decoder starts with.
func (e *Encoder) Init() {
	e.t.reset(encoderTableSize)
	e.pending, e.minSize = false, 0
}

// SetPeerTableSize records the peer's SETTINGS_HEADER_TABLE_SIZE; the encoder
// must never use a dynamic table bigger than it (emit a size update if needed).
func (e *Encoder) SetPeerTableSize(n uint32) {
	want := min(n, encoderTableSize)
	if want == e.t.max && !e.pending {
		return
	}
	// Announce even an unchanged or larger size once the peer lowered
	// its setting: some decoders (nghttp2) then require an update in the
	// next block, and a value at most the lowest setting seen.
	if !e.pending || want < e.minSize {
		e.minSize = want
	}
	e.pending = true
	// The peer evicts down to minSize first, then allows want: mirror it.
	e.t.evictTo(e.minSize)
	e.t.max = want
}

// BeginBlock appends anything that must open the next block (a pending
// dynamic table size update).
func (e *Encoder) BeginBlock(dst []byte) []byte {
	if !e.pending {
		return dst
	}
	if e.minSize < e.t.max {
		// The setting went down, then up again: two updates. The first is
		// 0, not minSize (any size up to the smallest setting is valid
		// there): decoders like x/net's reject a second update while the
		// first left entries in the table.
		dst = appendInt(dst, 0x20, 5, 0)
		e.t.evictTo(0)
	}
	e.pending = false
	return appendInt(dst, 0x20, 5, e.t.max)
}

// AppendField appends the encoding of one field; name must be lower case.
//
// A field in the static or dynamic table is one index; otherwise it is a
// literal, with its name indexed when possible, added to the dynamic table
// unless shouldIndex says it would only push out entries that recur. A
// sensitive field is always a "never indexed" literal (RFC 7541 §6.2.3),
// even when the table holds it, so the next hop sees the flag too. Each
// string is Huffman-coded when that is shorter.
func (e *Encoder) AppendField(dst []byte, name, value []byte, sensitive bool) []byte {
	sidx, sfull := staticFind(name, value)
	if sfull && !sensitive {
		return appendInt(dst, 0x80, 7, sidx)
	}
	nameIdx := sidx
	if e.t.n > 0 {
		didx, dfull := e.t.find(name, value)
		if dfull && !sensitive {
			return appendInt(dst, 0x80, 7, uint32(len(staticTable))+didx)
		}
		if nameIdx == 0 && didx != 0 {
			nameIdx = uint32(len(staticTable)) + didx
		}
	}
	indexing := false
	switch {
	case sensitive:
		dst = appendInt(dst, 0x10, 4, nameIdx)
	case e.shouldIndex(name, value):
		indexing = true
		dst = appendInt(dst, 0x40, 6, nameIdx)
	default:
		dst = appendInt(dst, 0x00, 4, nameIdx)
	}
	if nameIdx == 0 {
		dst = appendStringLiteral(dst, name)
	}
	dst = appendStringLiteral(dst, value)
	if indexing {
		e.t.add(name, value)
	}
	return dst
}

// shouldIndex reports whether a field is worth a dynamic table entry: not
// one larger than 3/4 of the table (it would flush most of it), nor one
// whose value is usually new on every message (nghttp2's list, plus
// request IDs).
func (e *Encoder) shouldIndex(name, value []byte) bool {
	if uint64(len(name))+uint64(len(value))+entryOverhead > uint64(e.t.max)*3/4 {
		return false
	}
	switch string(name) {
	case ":path", "content-length", "age", "etag", "if-modified-since",
		"if-none-match", "last-modified", "location", "set-cookie", "x-request-id":
		return false
	}
	return true
}

// appendStringLiteral appends s as a §5.2 string literal, Huffman-coded if
// that is shorter.
func appendStringLiteral(dst, s []byte) []byte {
	if h := huffmanLen(s); h < len(s) {
		dst = appendInt(dst, 0x80, 7, uint32(h))
		return appendHuffman(dst, s)
	}
	dst = appendInt(dst, 0, 7, uint32(len(s)))
	return append(dst, s...)
}
