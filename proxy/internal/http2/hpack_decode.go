package http2

import "fmt"

// Decoder decodes header blocks of one connection (RFC 7541), keeping its
// dynamic table. Zero value + Init.
type Decoder struct {
	t hpackTable
}

// Init sets the dynamic table size limit we advertised (SETTINGS_HEADER_TABLE_SIZE).
func (d *Decoder) Init(maxTableSize uint32) {
	d.t.reset(maxTableSize)
}

// Decode decodes one complete header block (HEADERS + CONTINUATION payloads
// already joined by the caller) and appends its fields to f. When f.Size would
// exceed maxListSize it keeps decoding (the dynamic table must stay in sync
// with the peer's encoder) but stops appending, and returns ErrListTooLarge at
// the end. A malformed block returns an error wrapping ErrCompression (a
// connection error COMPRESSION_ERROR for the caller): bad index, bad integer
// (overflow, > 2^32), bad Huffman (EOS, padding > 7 bits or not all ones),
// string longer than the block, table size update above Init's limit or
// not at the start of the block.
func (d *Decoder) Decode(block []byte, f *Fields, maxListSize uint32) error {
	over := false
	fieldSeen := false
	for p := 0; p < len(block); {
		at := p
		b := block[p]
		var (
			start      = len(f.Buf)
			nameLen    int
			sensitive  bool
			err        error
			idx        uint32
			withIndex  bool
			prefixBits uint = 4
		)
		switch {
		case b&0x80 != 0: // §6.1 indexed field
			if idx, p, err = readInt(block, p, 7); err != nil {
				return decodeErr(err, at)
			}
			if f.Buf, nameLen, err = d.appendIndexed(f.Buf, idx, true); err != nil {
				return decodeErr(err, at)
			}
			fieldSeen = true
			over = f.emit(start, nameLen, false, over, maxListSize)
			continue
		case b&0xe0 == 0x20: // §6.3 dynamic table size update
			// RFC 7541 §4.2: only at the start of a block (several may
			// follow each other there: the smallest, then the final size).
			if fieldSeen {
				return decodeErr(errLateSizeUpdate, at)
			}
			var v uint32
			if v, p, err = readInt(block, p, 5); err != nil {
				return decodeErr(err, at)
			}
			if v > d.t.limit {
				return decodeErr(errSizeUpdate, at)
			}
			d.t.setMax(v)
			continue
		case b&0xc0 == 0x40: // §6.2.1 literal with incremental indexing
			withIndex, prefixBits = true, 6
		case b&0xf0 == 0x10: // §6.2.3 literal never indexed
			sensitive = true
		}
		// §6.2 literal: the name by index or as a string, then the value.
		fieldSeen = true
		if idx, p, err = readInt(block, p, prefixBits); err != nil {
			return decodeErr(err, at)
		}
		if idx != 0 {
			f.Buf, nameLen, err = d.appendIndexed(f.Buf, idx, false)
		} else {
			f.Buf, p, err = appendString(f.Buf, block, p)
			nameLen = len(f.Buf) - start
		}
		if err != nil {
			return decodeErr(err, at)
		}
		if f.Buf, p, err = appendString(f.Buf, block, p); err != nil {
			return decodeErr(err, at)
		}
		if withIndex {
			// From f.Buf, not the table: the name may be that of an entry
			// this insertion evicts (RFC 7541 §4.4).
			d.t.add(f.Buf[start:start+nameLen], f.Buf[start+nameLen:])
		}
		over = f.emit(start, nameLen, sensitive, over, maxListSize)
	}
	if over {
		return ErrListTooLarge
	}
	return nil
}

// decodeErr gives a malformed block's error the offset of the
// representation that broke it. Only a connection being torn down gets here,
// so the allocation does not matter.
func decodeErr(err error, at int) error {
	return fmt.Errorf("%w (representation at byte %d of the block)", err, at)
}

// emit adds the field whose name and value were just appended to f.Buf from
// start on, unless the list is (or would become) larger than limit: then
// the bytes are dropped, and so is every later field of the block (over).
func (f *Fields) emit(start, nameLen int, sensitive, over bool, limit uint32) bool {
	valueLen := len(f.Buf) - start - nameLen
	sz := uint64(nameLen) + uint64(valueLen) + entryOverhead
	if over || uint64(f.Size)+sz > uint64(limit) {
		f.Buf = f.Buf[:start]
		return true
	}
	f.List = append(f.List, Field{
		Name:      Span{uint32(start), uint32(nameLen)},
		Value:     Span{uint32(start + nameLen), uint32(valueLen)},
		Sensitive: sensitive,
	})
	f.Size += uint32(sz)
	return false
}

// appendIndexed appends the name of table entry idx (static or dynamic)
// to dst, and its value too if withValue.
func (d *Decoder) appendIndexed(dst []byte, idx uint32, withValue bool) ([]byte, int, error) {
	if idx == 0 {
		return dst, 0, errIndex
	}
	if idx <= uint32(len(staticTable)) {
		s := &staticTable[idx-1]
		dst = append(dst, s.name...)
		if withValue {
			dst = append(dst, s.value...)
		}
		return dst, len(s.name), nil
	}
	e, ok := d.t.entry(idx - uint32(len(staticTable)))
	if !ok {
		return dst, 0, errIndex
	}
	dst = d.t.appendRing(dst, e.off, e.nameLen)
	if withValue {
		dst = d.t.appendRing(dst, d.t.wrap(e.off+e.nameLen), e.valueLen)
	}
	return dst, int(e.nameLen), nil
}

// appendString appends the decoding of the §5.2 string literal at block[p]
// to dst and returns the offset after it.
func appendString(dst, block []byte, p int) ([]byte, int, error) {
	if p >= len(block) {
		return dst, p, errTruncated
	}
	huff := block[p]&0x80 != 0
	l, p, err := readInt(block, p, 7)
	if err != nil {
		return dst, p, err
	}
	if uint64(l) > uint64(len(block)-p) {
		return dst, p, errStringLength
	}
	s := block[p : p+int(l)]
	if !huff {
		return append(dst, s...), p + int(l), nil
	}
	dst, ok := appendHuffmanDecoded(dst, s)
	if !ok {
		return dst, p, errHuffman
	}
	return dst, p + int(l), nil
}
