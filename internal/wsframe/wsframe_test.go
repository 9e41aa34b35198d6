package wsframe

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Each length encoding, and the payload unmasked again with the key sent.
func TestAppendClient(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte{'a'}, n)
		f := AppendClient([]byte{0xff}, OpText, n != 0, payload)[1:]
		if f[0]&0x0f != OpText || (f[0]&0x80 != 0) != (n != 0) || f[1]&0x80 == 0 {
			t.Fatalf("%d bytes: header %x", n, f[:2])
		}
		length, pos := int(f[1]&0x7f), 2
		switch length {
		case 126:
			length, pos = int(binary.BigEndian.Uint16(f[2:])), 4
		case 127:
			length, pos = int(binary.BigEndian.Uint64(f[2:])), 10
		}
		if length != n || len(f) != pos+4+n {
			t.Fatalf("%d bytes: length %d, frame of %d", n, length, len(f))
		}
		key, got := f[pos:pos+4], bytes.Clone(f[pos+4:])
		for i := range got {
			got[i] ^= key[i%4]
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("%d bytes: payload not recovered", n)
		}
	}
}
