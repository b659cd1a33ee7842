package http2

// Huffman decoding (RFC 7541 §5.2) as a state machine over 4-bit nibbles,
// the approach of nghttp2: a state is an internal node of the code tree
// (there are 256), and huffDec[state][nibble] gives the node reached after
// those 4 bits and the symbol completed on the way, if any. No code is
// shorter than 5 bits, so a nibble completes at most one symbol. The table
// (16 KiB) is built once at start-up from huffCode/huffLen; decoding is a
// loop of two lookups per byte with no allocation beyond appending to dst.

const (
	huffEmit   = 1 << iota // the nibble completed huffSym.sym
	huffFail               // the nibble reached EOS or left the code: invalid
	huffAccept             // a string may end here: at the root, or after 1-7 one bits (padding, a prefix of EOS)
)

type huffSym struct{ next, sym, flags uint8 }

var huffDec = buildHuffDec()

func buildHuffDec() *[256][16]huffSym {
	// The code tree: node 0 is the root; child >= 0 is an internal node,
	// child < 0 the leaf of symbol -child-1; missing children stay at the
	// sentinel noChild (the code is complete, so none should remain).
	const noChild = -1 << 15
	var kids [256][2]int16
	for i := range kids {
		kids[i] = [2]int16{noChild, noChild}
	}
	var depth [256]uint8
	var ones [256]bool // the path from the root to the node is all ones
	ones[0] = true
	nodes := int16(1)
	for sym := range huffCode {
		code, l := huffCode[sym], huffLen[sym]
		cur := int16(0)
		for b := int(l) - 1; b >= 0; b-- {
			bit := (code >> uint(b)) & 1
			if b == 0 {
				kids[cur][bit] = int16(-sym - 1)
				break
			}
			if kids[cur][bit] == noChild {
				kids[cur][bit] = nodes
				depth[nodes] = depth[cur] + 1
				ones[nodes] = ones[cur] && bit == 1
				nodes++
			}
			cur = kids[cur][bit]
		}
	}
	t := new([256][16]huffSym)
	for s := range 256 {
		for nib := range 16 {
			cur := int16(s)
			e := huffSym{}
			for b := 3; b >= 0; b-- {
				c := kids[cur][(nib>>b)&1]
				switch {
				case c == noChild || c == -257: // no such code, or EOS
					e.flags = huffFail
				case c < 0:
					e.flags |= huffEmit
					e.sym = uint8(-c - 1)
					cur = 0
				default:
					cur = c
				}
				if e.flags&huffFail != 0 {
					break
				}
			}
			if e.flags&huffFail == 0 {
				e.next = uint8(cur)
				if cur == 0 || (ones[cur] && depth[cur] <= 7) {
					e.flags |= huffAccept
				}
			}
			t[s][nib] = e
		}
	}
	return t
}

// appendHuffmanDecoded appends the decoding of the Huffman string src to
// dst; ok is false if src is not a valid encoding (EOS inside, padding
// longer than 7 bits or not a prefix of EOS).
func appendHuffmanDecoded(dst, src []byte) (_ []byte, ok bool) {
	var state uint8
	accept := true
	for _, b := range src {
		e := huffDec[state][b>>4]
		if e.flags&huffFail != 0 {
			return dst, false
		}
		if e.flags&huffEmit != 0 {
			dst = append(dst, e.sym)
		}
		e = huffDec[e.next][b&0xf]
		if e.flags&huffFail != 0 {
			return dst, false
		}
		if e.flags&huffEmit != 0 {
			dst = append(dst, e.sym)
		}
		state, accept = e.next, e.flags&huffAccept != 0
	}
	return dst, accept
}

// huffmanLen is the length of s Huffman-encoded, padding included.
func huffmanLen(s []byte) int {
	var bits uint64
	for _, c := range s {
		bits += uint64(huffLen[c])
	}
	return int((bits + 7) / 8)
}

// appendHuffman appends s Huffman-encoded, padded with the high bits of EOS (ones).
func appendHuffman(dst, s []byte) []byte {
	var x uint64 // pending bits in the low n bits (codes are at most 30 bits)
	var n uint
	for _, c := range s {
		x = x<<huffLen[c] | uint64(huffCode[c])
		n += uint(huffLen[c])
		for n >= 8 {
			n -= 8
			dst = append(dst, byte(x>>n))
		}
	}
	if n > 0 {
		dst = append(dst, byte(x<<(8-n))|byte(0xff>>n))
	}
	return dst
}
