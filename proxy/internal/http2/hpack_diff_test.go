package http2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// Differential tests against golang.org/x/net/http2/hpack, the reference
// (it is what Go's net/http speaks).

// randomList draws a header list: names from the static table and a few
// custom ones (so both static and dynamic name references occur), values
// that repeat (so the dynamic table is used) or are new, some of them
// binary (Huffman worst cases), some sensitive.
func randomList(r *rand.Rand) []hf {
	custom := []string{"x-request-id", "x-b3-traceid", "grpc-timeout", "te", "content-type", "user-agent", "x-empty", ""}
	values := []string{"", "GET", "200", "gzip, deflate", "application/grpc", "trailers", "meshload/1.0", "www.example.com", "/index.html"}
	n := r.IntN(12)
	out := make([]hf, 0, n)
	for range n {
		var h hf
		if r.IntN(2) == 0 {
			h.name = staticTable[r.IntN(len(staticTable))].name
		} else {
			h.name = custom[r.IntN(len(custom))]
		}
		switch r.IntN(4) {
		case 0:
			h.value = values[r.IntN(len(values))]
		case 1:
			h.value = fmt.Sprintf("v%d", r.IntN(50))
		case 2:
			b := make([]byte, r.IntN(40))
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			h.value = string(b)
		default:
			h.value = string(bytes.Repeat([]byte{byte('a' + r.IntN(26))}, r.IntN(300)))
		}
		if r.IntN(8) == 0 {
			// Never equal to a non-sensitive field: x/net's encoder sends
			// a sensitive field it finds in a table as an index, flag lost.
			h.sensitive, h.value = true, "secret-"+h.value
		}
		out = append(out, h)
	}
	return out
}

// Blocks from x/net's encoder (dynamic table on, table size changes,
// Huffman where it is shorter) decode to the same fields with ours.
func TestHPACKDiffDecodesXNetEncoder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for conn := range 20 {
		limit := []uint32{4096, 256, 0, 65536}[conn%4]
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		enc.SetMaxDynamicTableSizeLimit(limit)
		var d Decoder
		d.Init(limit)
		var f Fields
		for blk := range 200 {
			if r.IntN(10) == 0 { // the encoder changes its table size (a size update opens the block)
				enc.SetMaxDynamicTableSize(uint32(r.IntN(int(limit) + 1)))
			}
			list := randomList(r)
			buf.Reset()
			for _, h := range list {
				if err := enc.WriteField(hpack.HeaderField{Name: h.name, Value: h.value, Sensitive: h.sensitive}); err != nil {
					t.Fatal(err)
				}
			}
			f.Reset()
			if err := d.Decode(buf.Bytes(), &f, 1<<20); err != nil {
				t.Fatalf("conn %d block %d: %v\n% x", conn, blk, err, buf.Bytes())
			}
			if got := fieldsOf(&f); !sameFields(got, list) {
				t.Fatalf("conn %d block %d: got %v\nwant %v", conn, blk, got, list)
			}
		}
	}
}

// rawBuilder writes representations the way no encoder library chooses
// to: Huffman off (or on) per string, every literal kind, name and full
// indices of its choice.
type rawBuilder struct {
	b    []byte
	r    *rand.Rand
	huff bool
}

func (w *rawBuilder) str(s string) {
	if w.huff || (w.r != nil && w.r.IntN(2) == 0) {
		w.b = appendInt(w.b, 0x80, 7, uint32(huffmanLen([]byte(s))))
		w.b = appendHuffman(w.b, []byte(s))
		return
	}
	w.b = appendInt(w.b, 0, 7, uint32(len(s)))
	w.b = append(w.b, s...)
}

// Random valid-looking blocks (Huffman on and off, every representation,
// indices sometimes past the table) decode alike with x/net and ours:
// the same fields, or both reject.
func TestHPACKDiffRandomRepresentations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const limit = 512
	rejected := 0
	for conn := range 50 {
		var d Decoder
		d.Init(limit)
		ref := hpack.NewDecoder(limit, nil)
		var f Fields
		for blk := range 100 {
			w := rawBuilder{r: r, huff: conn%3 == 0}
			if conn%3 == 1 {
				w.r = nil // Huffman off throughout
			}
			if r.IntN(8) == 0 {
				w.b = appendInt(w.b, 0x20, 5, uint32(r.IntN(limit+1)))
			}
			for range r.IntN(10) {
				idx := uint32(1 + r.IntN(len(staticTable)))
				if r.IntN(60) == 0 {
					idx = uint32(len(staticTable) + 1 + r.IntN(6)) // the dynamic table's first entries, or past them
				}
				switch r.IntN(5) {
				case 0:
					w.b = appendInt(w.b, 0x80, 7, idx)
				case 1, 2:
					name := uint32(0)
					if r.IntN(2) == 0 {
						name = idx
					}
					first, n := []byte{0x40, 0x00, 0x10}[r.IntN(3)], uint(4)
					if first == 0x40 {
						n = 6
					}
					w.b = appendInt(w.b, first, n, name)
					if name == 0 {
						w.str(fmt.Sprintf("n%d", r.IntN(20)))
					}
					w.str(string(bytes.Repeat([]byte{byte(r.IntN(256))}, r.IntN(100))))
				default:
					w.b = appendInt(w.b, 0x40, 6, 0)
					w.str(fmt.Sprintf("k%d", r.IntN(30)))
					w.str(fmt.Sprintf("v%d", r.IntN(30)))
				}
			}
			f.Reset()
			err := d.Decode(w.b, &f, 1<<20)
			want, refErr := xnetDecode(ref, w.b)
			if refErr != nil {
				if err == nil {
					t.Fatalf("conn %d block %d: x/net rejects (%v), we accept\n% x", conn, blk, refErr, w.b)
				}
				rejected++
				break // the connection is gone
			}
			if err != nil {
				t.Fatalf("conn %d block %d: %v; x/net accepts\n% x", conn, blk, err, w.b)
			}
			if got := fieldsOf(&f); !sameFields(got, want) {
				t.Fatalf("conn %d block %d: got %v\nwant %v", conn, blk, got, want)
			}
		}
	}
	t.Logf("%d of 50 connections ended on a block both reject", rejected)
	if rejected == 0 || rejected == 50 {
		t.Errorf("%d of 50 connections ended on a block both reject: the draw should give some of each", rejected)
	}
}

// Our encoder's output decodes with x/net's decoder to the input,
// sensitive flags included, across peer table size changes.
func TestHPACKDiffXNetDecodesOurs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for conn := range 20 {
		var e Encoder
		e.Init()
		setting := uint32(4096)
		ref := hpack.NewDecoder(setting, nil)
		var blk []byte
		for n := range 200 {
			if r.IntN(10) == 0 {
				// The peer changes SETTINGS_HEADER_TABLE_SIZE; its decoder
				// enforces the new bound from the next block on.
				setting = []uint32{0, 64, 256, 4096, 1 << 16}[r.IntN(5)]
				e.SetPeerTableSize(setting)
				ref.SetAllowedMaxDynamicTableSize(setting)
			}
			list := randomList(r)
			blk = e.BeginBlock(blk[:0])
			for _, h := range list {
				blk = e.AppendField(blk, []byte(h.name), []byte(h.value), h.sensitive)
			}
			got, err := xnetDecode(ref, blk)
			if err != nil {
				t.Fatalf("conn %d block %d: %v", conn, n, err)
			}
			if !sameFields(got, list) {
				t.Fatalf("conn %d block %d: x/net decodes %v\nwant %v", conn, n, got, list)
			}
			if e.t.size > min(setting, encoderTableSize) {
				t.Fatalf("conn %d block %d: table of %d bytes with the peer's setting at %d", conn, n, e.t.size, setting)
			}
		}
	}
}
