package http2

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/meshbench/meshbench/internal/testenv"
	"golang.org/x/net/http2/hpack"
)

// HPACK runs once per message on the event loop: decoding into a reused
// Fields and encoding into a reused buffer must not allocate once the
// tables' rings have grown. The workloads below evict on every block, so
// the steady state includes insertions, evictions and ring wrap-around.

// requestHeaders is request i of a rotating set: mostly repeated fields,
// a new :path and a request id every time (as a proxy forwards them).
func requestHeaders(i int) []hf {
	return []hf{
		{":method", "GET", false},
		{":scheme", "https", false},
		{":authority", "echo.default.svc.cluster.local:8080", false},
		{":path", fmt.Sprintf("/api/v1/items/%d?q=x", i), false},
		{"user-agent", "meshload/1.0", false},
		{"accept", "*/*", false},
		{"x-request-id", fmt.Sprintf("7f3c9a2e-%08x", i*2654435761), false},
		{"x-b3-traceid", fmt.Sprintf("%016x", i%7), false},
		{"authorization", "Bearer abc.def.ghi", true},
	}
}

// requestCycle is n blocks from x/net's encoder with a small table, so
// entries are evicted on every block. The first block empties the table
// (size updates to 0, then back), so the cycle can be decoded over and
// over from the same state.
func requestCycle(t testing.TB, n int, table uint32) [][]byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	enc.SetMaxDynamicTableSizeLimit(table)
	var blocks [][]byte
	for i := range n {
		if i == 0 {
			enc.SetMaxDynamicTableSize(0)
			enc.SetMaxDynamicTableSize(table)
		}
		buf.Reset()
		for _, h := range requestHeaders(i) {
			if err := enc.WriteField(hpack.HeaderField{Name: h.name, Value: h.value, Sensitive: h.sensitive}); err != nil {
				t.Fatal(err)
			}
		}
		blocks = append(blocks, bytes.Clone(buf.Bytes()))
	}
	if blocks[0][0]&0xe0 != 0x20 {
		t.Fatalf("the cycle's first block does not open with a size update: % x", blocks[0][:4])
	}
	return blocks
}

func TestHPACKDecodeZeroAlloc(t *testing.T) {
	testenv.SkipUnderRace(t)
	blocks := requestCycle(t, 16, 256)
	// x/net Huffman-codes literals where shorter; the last decode of each
	// round is over the list limit (fields dropped, table still updated).
	var d Decoder
	d.Init(256)
	var f Fields
	decodeAll := func() {
		for i, b := range blocks {
			f.Reset()
			if err := d.Decode(b, &f, 1<<16); err != nil || len(f.List) != 9 {
				t.Fatalf("block %d: %v, %d fields", i, err, len(f.List))
			}
		}
		f.Reset()
		if err := d.Decode(blocks[0], &f, 100); err != ErrListTooLarge {
			t.Fatalf("over the limit: %v", err)
		}
	}
	decodeAll() // the rings and f grow here
	if allocs := testing.AllocsPerRun(50, decodeAll); allocs != 0 {
		t.Fatalf("decoding %d blocks allocates %.1f times", len(blocks)+1, allocs)
	}
	if d.t.n == 0 || len(d.t.data) > 256 {
		t.Fatalf("table: %d entries, ring of %d bytes", d.t.n, len(d.t.data))
	}
}

func TestHPACKEncodeZeroAlloc(t *testing.T) {
	testenv.SkipUnderRace(t)
	const n = 16
	type bf struct {
		name, value []byte
		sensitive   bool
	}
	var lists [n][]bf
	for i := range lists {
		for _, h := range requestHeaders(i) {
			lists[i] = append(lists[i], bf{[]byte(h.name), []byte(h.value), h.sensitive})
		}
	}
	var e Encoder
	e.Init()
	e.SetPeerTableSize(256) // evictions on every block
	dst := make([]byte, 0, 4096)
	encodeAll := func() {
		for _, l := range lists {
			dst = e.BeginBlock(dst[:0])
			for _, h := range l {
				dst = e.AppendField(dst, h.name, h.value, h.sensitive)
			}
		}
	}
	encodeAll()
	if allocs := testing.AllocsPerRun(50, encodeAll); allocs != 0 {
		t.Fatalf("encoding %d blocks allocates %.1f times", n, allocs)
	}
	if e.t.n == 0 {
		t.Fatal("the encoder's table stayed empty: the test does not exercise it")
	}
}

func BenchmarkHPACKDecode(b *testing.B) {
	blocks := requestCycle(b, 16, 4096)
	var d Decoder
	d.Init(4096)
	var f Fields
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Reset()
		if err := d.Decode(blocks[i%len(blocks)], &f, 1<<16); err != nil {
			b.Fatal(err)
		}
	}
}

// The reference decoder on the same blocks, for comparison.
func BenchmarkHPACKDecodeXNet(b *testing.B) {
	blocks := requestCycle(b, 16, 4096)
	d := hpack.NewDecoder(4096, func(hpack.HeaderField) {})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Write(blocks[i%len(blocks)]); err != nil {
			b.Fatal(err)
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHPACKEncode(b *testing.B) {
	type bf struct {
		name, value []byte
		sensitive   bool
	}
	var lists [16][]bf
	for i := range lists {
		for _, h := range requestHeaders(i) {
			lists[i] = append(lists[i], bf{[]byte(h.name), []byte(h.value), h.sensitive})
		}
	}
	var e Encoder
	e.Init()
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = e.BeginBlock(dst[:0])
		for _, h := range lists[i%len(lists)] {
			dst = e.AppendField(dst, h.name, h.value, h.sensitive)
		}
	}
}
