package ws

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/evaratech/evara/internal/wsframe"
)

// clientFrame builds a masked client frame.
func clientFrame(op byte, fin bool, payload []byte) []byte {
	return wsframe.AppendClient(nil, op, fin, payload)
}

// recorder is a frameHandler that writes down what it is told.
type recorder struct{ got []string }

func (r *recorder) onMessage(data []byte) bool {
	r.got = append(r.got, "msg "+string(data))
	return true
}
func (r *recorder) onPing(payload []byte) { r.got = append(r.got, "ping "+string(payload)) }
func (r *recorder) onClose(code int) bool {
	r.got = append(r.got, fmt.Sprintf("close %d", code))
	return false
}

// The parser gives the same messages however the bytes are cut by reads:
// whole, byte by byte, or at random places; fragments are joined, and a
// ping between them is handled on its own.
func TestFrameReaderReassembles(t *testing.T) {
	long := strings.Repeat("x", 300) // a 16-bit length
	stream := slices.Concat(
		clientFrame(wsframe.OpText, true, []byte(`{"type":"pong"}`)),
		clientFrame(wsframe.OpText, false, []byte(`{"type":`)),
		clientFrame(wsframe.OpPing, true, []byte("are you there")),
		clientFrame(wsframe.OpContinuation, false, []byte(`"subscribe",`)),
		clientFrame(wsframe.OpContinuation, true, []byte(`"topic":"node:n1"}`)),
		clientFrame(wsframe.OpBinary, true, []byte(long)),
		clientFrame(wsframe.OpPong, true, nil),
		clientFrame(wsframe.OpClose, true, websocket.FormatCloseMessage(1000, "bye")),
		clientFrame(wsframe.OpText, true, []byte("after the close: not read")),
	)
	want := []string{`msg {"type":"pong"}`, "ping are you there", `msg {"type":"subscribe","topic":"node:n1"}`, "msg " + long, "close 1000"}

	cuts := map[string][]int{"whole": nil, "byte by byte": nil}
	for i := 1; i < len(stream); i++ {
		cuts["byte by byte"] = append(cuts["byte by byte"], i)
	}
	for k := range 5 {
		var at []int
		for range 8 {
			n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(stream)-1)))
			at = append(at, int(n.Int64())+1)
		}
		slices.Sort(at)
		cuts[fmt.Sprintf("random %d", k)] = slices.Compact(at)
	}
	for name, at := range cuts {
		t.Run(name, func(t *testing.T) {
			r := frameReader{limit: 4096}
			var h recorder
			data := slices.Clone(stream) // feed unmasks in place
			prev := 0
			for _, cut := range append(at, len(data)) {
				more, err := r.feed(data[prev:cut], &h)
				if err != nil {
					t.Fatalf("feed: %v", err)
				}
				prev = cut
				if !more {
					break
				}
			}
			if !slices.Equal(h.got, want) {
				t.Fatalf("got\n%q\nwant\n%q", h.got, want)
			}
		})
	}
}

// Each protocol violation is refused with its close code, and a message
// announced bigger than the limit is refused from its header alone.
func TestFrameReaderRefuses(t *testing.T) {
	unmasked := []byte{0x81, 0x02, 'h', 'i'}
	huge := clientFrame(wsframe.OpText, true, make([]byte, 70000))[:14] // the header only
	for _, c := range []struct {
		name  string
		bytes []byte
		code  int
	}{
		{"unmasked", unmasked, websocket.CloseProtocolError},
		{"reserved bit", append([]byte{0xc1}, clientFrame(wsframe.OpText, true, []byte("x"))[1:]...), websocket.CloseProtocolError},
		{"unknown opcode", clientFrame(0x3, true, nil), websocket.CloseProtocolError},
		{"fragmented ping", clientFrame(wsframe.OpPing, false, nil), websocket.CloseProtocolError},
		{"long ping", clientFrame(wsframe.OpPing, true, make([]byte, 126)), websocket.CloseProtocolError},
		{"stray continuation", clientFrame(wsframe.OpContinuation, true, []byte("x")), websocket.CloseProtocolError},
		{"interleaved", slices.Concat(clientFrame(wsframe.OpText, false, []byte("a")), clientFrame(wsframe.OpText, true, []byte("b"))), websocket.CloseProtocolError},
		{"close with one byte", clientFrame(wsframe.OpClose, true, []byte{3}), websocket.CloseProtocolError},
		{"close with a reserved code", clientFrame(wsframe.OpClose, true, []byte{0x03, 0xed}) /* 1005 */, websocket.CloseProtocolError},
		{"text not UTF-8", clientFrame(wsframe.OpText, true, []byte{0xff, 0xfe}), websocket.CloseInvalidFramePayloadData},
		{"too big", huge, websocket.CloseMessageTooBig},
		{"too big in fragments", slices.Concat(clientFrame(wsframe.OpText, false, make([]byte, 3000)), clientFrame(wsframe.OpContinuation, true, make([]byte, 3000))), websocket.CloseMessageTooBig},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := frameReader{limit: 4096}
			var h recorder
			_, err := r.feed(c.bytes, &h)
			fe, ok := isFrameError(err)
			if !ok || fe.code != c.code {
				t.Fatalf("got %v (handler saw %q), want close code %d", err, h.got, c.code)
			}
			if r.partial != nil {
				t.Fatalf("kept %d bytes of a refused frame", len(r.partial))
			}
		})
	}
}

// Over TCP: a subscribe cut across two writes and two frames is one
// message, a protocol ping gets its pong, and a protocol violation closes
// the connection with 1002 and ends it.
func TestProtocolOverTCP(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	addr := strings.TrimSuffix(strings.TrimPrefix(h.url, "ws://"), "/ws")
	c, err := rawDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	br := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(patience))

	first := clientFrame(wsframe.OpText, false, []byte(`{"type":"subscribe",`))
	second := clientFrame(wsframe.OpContinuation, true, []byte(`"topic":"node:n1"}`))
	write(t, c, first[:5])
	time.Sleep(20 * time.Millisecond) // two reads on the server's side
	write(t, c, slices.Concat(first[5:], second))
	if op, payload := readFrame(t, br); op != wsframe.OpText || !strings.Contains(string(payload), `"subscribed"`) {
		t.Fatalf("got opcode %d %q, want subscribed", op, payload)
	}

	write(t, c, clientFrame(wsframe.OpPing, true, []byte("hello")))
	if op, payload := readFrame(t, br); op != wsframe.OpPong || string(payload) != "hello" {
		t.Fatalf("got opcode %d %q, want the pong", op, payload)
	}

	write(t, c, []byte{0x81, 0x02, 'h', 'i'}) // unmasked
	op, payload := readFrame(t, br)
	if op != wsframe.OpClose || len(payload) < 2 || binary.BigEndian.Uint16(payload) != websocket.CloseProtocolError {
		t.Fatalf("got opcode %d %q, want close 1002", op, payload)
	}
	// What follows a violation is not parsed (not even a close frame): the
	// connection is cut after the close grace.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the close frame: %v, want EOF", err)
	}
	eventually(t, "the connection gone", func() bool { return h.srv.Stats().Connections == 0 && ourGoroutines() == 0 })
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readFrame reads one unmasked server frame.
func readFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint16(ext[:]))
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	return hdr[0] & 0x0f, payload
}
