package engine

import "testing"

func TestRecordLen(t *testing.T) {
	cases := []struct {
		hdr  []byte
		want int
	}{
		{[]byte{0x17, 3, 3, 0x00, 0x07}, 12},
		{[]byte{0x17, 3, 3, 0x00, 0x30}, 53},
		{[]byte{0x17, 3, 3, 0x02, 0x05}, 522},
		{[]byte{0x17, 3, 3, 0x40, 0x11}, 16406}, // max TLS 1.3 ciphertext
		{[]byte{0x16, 3, 1, 0xff, 0xff}, 65540},
	}
	for _, c := range cases {
		if got := recordLen(c.hdr); got != c.want {
			t.Errorf("recordLen(% x) = %d, want %d", c.hdr, got, c.want)
		}
	}
}
