package http2

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// splitBlocks cuts fuzz input into header blocks of one connection: each
// block is a length byte and that many bytes (the last may be short).
func splitBlocks(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := min(int(data[0]), len(data)-1)
		out = append(out, data[1:1+n])
		data = data[1+n:]
	}
	return out
}

// joinBlocks is splitBlocks' inverse, for seeds.
func joinBlocks(blocks ...[]byte) []byte {
	var out []byte
	for _, b := range blocks {
		out = append(append(out, byte(len(b))), b...)
	}
	return out
}

// leadingSizeUpdates counts the dynamic table size updates that open block.
func leadingSizeUpdates(block []byte) int {
	n := 0
	for p := 0; p < len(block) && block[p]&0xe0 == 0x20; n++ {
		var err error
		if _, p, err = readInt(block, p, 5); err != nil {
			break
		}
	}
	return n
}

func addDecodeSeeds(f *testing.F) {
	for _, s := range appendixSeries {
		var blocks [][]byte
		for _, st := range s.steps {
			blocks = append(blocks, dehex(f, st.block))
		}
		f.Add(joinBlocks(blocks...), uint16(s.tableSize), uint16(1000))
		f.Add(joinBlocks(blocks...), uint16(s.tableSize), uint16(120)) // over the list limit
	}
	for _, b := range requestCycle(f, 4, 256) {
		f.Add(joinBlocks(b), uint16(256), uint16(4096))
	}
	for _, blk := range []string{"82 3fe1 1f", "20 82 20", "3f4d 20 82", "0001 61 84ff ffff ff", "0001 61 82 1fff", "0f 8080 8080 8080 8080 00 00"} {
		f.Add(joinBlocks(dehex(f, "4001 6101 62"), dehex(f, blk)), uint16(4096), uint16(4096))
	}
}

// FuzzHPACKDecode: arbitrary blocks on one connection. Ours never panics
// and never exceeds its limits; where x/net's decoder accepts a block we
// produce the same fields (or the prefix within the list limit, with
// ErrListTooLarge), where it rejects one we reject it too. Two differences
// are deliberate, both about RFC 7541 §4.2's "at the beginning of the
// block" for dynamic table size updates:
//   - x/net accepts a size update after a field while its table is empty;
//     we reject it (the RFC has no such exception).
//   - x/net rejects a second size update at the start of a block once the
//     first left entries in the table; we accept it (the RFC expects two
//     when the setting went down and up again).
func FuzzHPACKDecode(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, tableSize, listLimit uint16) {
		var d Decoder
		d.Init(uint32(tableSize))
		ref := hpack.NewDecoder(uint32(tableSize), nil)
		var fs Fields
		for i, block := range splitBlocks(data) {
			fs.Reset()
			err := d.Decode(block, &fs, uint32(listLimit))
			if fs.Size > uint32(listLimit) || d.t.size > d.t.max || d.t.max > uint32(tableSize) ||
				len(d.t.data) > int(tableSize) || len(d.t.ents) > int(tableSize)/32+1 {
				t.Fatalf("block %d: list size %d (limit %d), table %d/%d (limit %d), rings %d bytes %d entries",
					i, fs.Size, listLimit, d.t.size, d.t.max, tableSize, len(d.t.data), len(d.t.ents))
			}
			want, refErr := xnetDecode(ref, block)
			switch {
			case refErr != nil && err == nil || refErr != nil && err == ErrListTooLarge:
				if strings.Contains(refErr.Error(), "MUST occur at the beginning") && leadingSizeUpdates(block) >= 2 {
					return // difference 2: the decoders' tables may now differ
				}
				t.Fatalf("block %d: x/net rejects (%v), we return %v\n% x", i, refErr, err, block)
			case refErr != nil:
				if !errors.Is(err, ErrCompression) {
					t.Fatalf("block %d: %v does not wrap ErrCompression", i, err)
				}
				return // the connection is gone
			case err != nil && err != ErrListTooLarge:
				if errors.Is(err, errLateSizeUpdate) {
					return // difference 1
				}
				t.Fatalf("block %d: %v; x/net accepts\n% x", i, err, block)
			}
			var size, kept uint64
			for _, h := range want {
				size += uint64(len(h.name) + len(h.value) + 32)
				if size <= uint64(listLimit) {
					kept++
				}
			}
			if (err == ErrListTooLarge) != (size > uint64(listLimit)) {
				t.Fatalf("block %d: %v with a list of %d bytes, limit %d", i, err, size, listLimit)
			}
			if got := fieldsOf(&fs); !sameFields(got, want[:kept]) {
				t.Fatalf("block %d: got %v\nwant %v", i, got, want[:kept])
			}
		}
	})
}

// FuzzHPACKRoundTrip: arbitrary header lists through our encoder, with
// peer table size changes between blocks, decode to themselves with our
// decoder and with x/net's. The input is read as a list of fields: a
// control byte (bit 0 sensitive, bit 1 ends the block, bit 2 a new peer
// setting from the next two bytes), a name length and a value length
// (masked small) and the bytes.
func FuzzHPACKRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x07\x03:methodGET\x02\x04\x0bhostexample.com"), uint16(4096))
	f.Add([]byte("\x01\x0d\x04authorizationabcd\x06\x00\x00\x00\x03\x01x-aA\x02\x03\x01x-aA"), uint16(4096))
	f.Add([]byte("\x04\x10\x00\x03\x05x-bhello\x02\x03\x05x-bhello\x06\x00\x40\x03\x05x-bhello"), uint16(100))
	f.Add([]byte("\x00\x00\x00\x02\x01\x3f\xff\xfe\xfd"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, peerTable uint16) {
		var e Encoder
		e.Init()
		e.SetPeerTableSize(uint32(peerTable))
		ref := hpack.NewDecoder(4096, nil)
		ref.SetAllowedMaxDynamicTableSize(uint32(peerTable))
		var d Decoder
		d.Init(1 << 16) // the largest setting the input can ask for
		var fs Fields
		var blk []byte
		var list []hf
		flush := func() {
			blk = e.BeginBlock(blk[:0])
			for _, h := range list {
				blk = e.AppendField(blk, []byte(h.name), []byte(h.value), h.sensitive)
			}
			got, err := xnetDecode(ref, blk)
			if err != nil || !sameFields(got, list) {
				t.Fatalf("x/net decodes %v, %v\nwant %v\n% x", got, err, list, blk)
			}
			fs.Reset()
			if err := d.Decode(blk, &fs, 1<<20); err != nil || !sameFields(fieldsOf(&fs), list) {
				t.Fatalf("we decode %v, %v\nwant %v\n% x", fieldsOf(&fs), err, list, blk)
			}
			if e.t.size > e.t.max || e.t.max > uint32(peerTable) {
				t.Fatalf("encoder table %d/%d with the peer's setting at %d", e.t.size, e.t.max, peerTable)
			}
			list = list[:0]
		}
		for len(data) >= 3 {
			c, nl, vl := data[0], int(data[1]&0x3f), int(data[2])
			data = data[3:]
			if c&4 != 0 && len(data) >= 2 {
				flush() // a SETTINGS change applies between blocks
				peerTable = uint16(data[0])<<8 | uint16(data[1])
				data = data[2:]
				e.SetPeerTableSize(uint32(peerTable))
				ref.SetAllowedMaxDynamicTableSize(uint32(peerTable))
			}
			nl, vl = min(nl, len(data)), min(vl, len(data)-min(nl, len(data)))
			list = append(list, hf{string(data[:nl]), string(data[nl : nl+vl]), c&1 != 0})
			data = data[nl+vl:]
			if c&2 != 0 {
				flush()
			}
		}
		flush()
	})
}
