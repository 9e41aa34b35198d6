package ws

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"github.com/fasthttp/websocket"

	"github.com/evaratech/evara/internal/wsframe"
)

// The read side parses the client's frames itself (RFC 6455 §5) from
// whatever bytes a read returned, instead of blocking in the WebSocket
// library's reader: an idle connection then needs no goroutine waiting in
// a read (see poller_linux.go), and no buffer either — a frame cut in two
// by the network is the only thing kept between reads.

// frameError is a client frame that breaks the protocol: the connection is
// closed with code.
type frameError struct {
	code int
	text string
}

func (e *frameError) Error() string { return e.text }

var (
	errUnmasked     = &frameError{websocket.CloseProtocolError, "client frames must be masked"}
	errReserved     = &frameError{websocket.CloseProtocolError, "reserved bits or opcode used"}
	errBadControl   = &frameError{websocket.CloseProtocolError, "control frames must be whole and at most 125 bytes"}
	errContinuation = &frameError{websocket.CloseProtocolError, "unexpected continuation frame"}
	errInterleaved  = &frameError{websocket.CloseProtocolError, "new message before the last one ended"}
	errBadLength    = &frameError{websocket.CloseProtocolError, "invalid payload length"}
	errBadClose     = &frameError{websocket.CloseProtocolError, "invalid close frame"}
	errBadText      = &frameError{websocket.CloseInvalidFramePayloadData, "text message is not UTF-8"}
	errTooBig       = &frameError{websocket.CloseMessageTooBig, "message too big"}
)

// frameHandler is told each complete client message and control frame;
// payloads are valid only during the call. A false return stops the
// parsing (the connection is ending).
type frameHandler interface {
	onMessage(data []byte) bool
	onPing(payload []byte)
	onClose(code int) bool
}

// frameReader reassembles client frames. It is used by one goroutine at a
// time.
type frameReader struct {
	limit   int64  // bytes of one message
	partial []byte // the start of a frame cut by the end of a read; nil when none
	message []byte // the fragments of a message still unfinished
	inMsg   bool   // a fragmented message is under way
	text    bool   // it is a text message
}

// feed parses the bytes b (which it may modify: payloads are unmasked in
// place) after what an earlier feed kept. It reports false when h stopped
// it; an error is a protocol violation.
func (r *frameReader) feed(b []byte, h frameHandler) (bool, error) {
	data := b
	if r.partial != nil {
		r.partial = append(r.partial, b...)
		data = r.partial
	}
	for {
		n, err := r.frame(data, h)
		if err != nil {
			return false, err
		}
		if n < 0 {
			return false, nil
		}
		if n == 0 {
			break
		}
		data = data[n:]
	}
	switch {
	case len(data) == 0:
		r.partial = nil
	case r.partial != nil:
		r.partial = append(r.partial[:0], data...) // copy within: data is a tail of partial
	default:
		r.partial = append([]byte(nil), data...)
	}
	return true, nil
}

// frame handles the frame at the start of d: it returns its length, 0 when
// d does not hold all of it yet, and -1 when h stopped the parsing.
func (r *frameReader) frame(d []byte, h frameHandler) (int, error) {
	if len(d) < 2 {
		return 0, nil
	}
	fin, op := d[0]&0x80 != 0, d[0]&0x0f
	if d[0]&0x70 != 0 {
		return 0, errReserved
	}
	if d[1]&0x80 == 0 {
		return 0, errUnmasked
	}
	length, pos := uint64(d[1]&0x7f), 2
	switch length {
	case 126:
		if len(d) < 4 {
			return 0, nil
		}
		length, pos = uint64(binary.BigEndian.Uint16(d[2:4])), 4
	case 127:
		if len(d) < 10 {
			return 0, nil
		}
		length, pos = binary.BigEndian.Uint64(d[2:10]), 10
		if length>>63 != 0 {
			return 0, errBadLength
		}
	}
	control := op >= wsframe.OpClose
	switch {
	case control && (!fin || length > 125):
		return 0, errBadControl
	case !control && uint64(len(r.message))+length > uint64(r.limit):
		return 0, errTooBig // before buffering it
	}
	end := pos + 4 + int(length)
	if len(d) < end {
		return 0, nil
	}
	payload := d[pos+4 : end]
	unmask(payload, d[pos:pos+4])
	goOn, err := r.dispatch(op, fin, payload, h)
	switch {
	case err != nil:
		return 0, err
	case !goOn:
		return -1, nil
	}
	return end, nil
}

// unmask undoes the client's masking (RFC 6455 §5.3).
func unmask(payload, key []byte) {
	for i := range payload {
		payload[i] ^= key[i&3]
	}
}

// dispatch passes a frame on; it reports false when h stopped.
func (r *frameReader) dispatch(op byte, fin bool, payload []byte, h frameHandler) (bool, error) {
	switch op {
	case wsframe.OpPing:
		h.onPing(payload)
		return true, nil
	case wsframe.OpPong:
		return true, nil
	case wsframe.OpClose:
		code, ok := closeCode(payload)
		if !ok {
			return false, errBadClose
		}
		return h.onClose(code), nil
	case wsframe.OpText, wsframe.OpBinary:
		if r.inMsg {
			return false, errInterleaved
		}
		if fin {
			return r.deliver(op == wsframe.OpText, payload, h)
		}
		r.inMsg, r.text = true, op == wsframe.OpText
		r.message = append(r.message[:0], payload...)
		return true, nil
	case wsframe.OpContinuation:
		if !r.inMsg {
			return false, errContinuation
		}
		r.message = append(r.message, payload...)
		if !fin {
			return true, nil
		}
		msg, text := r.message, r.text
		r.message, r.inMsg = nil, false
		return r.deliver(text, msg, h)
	default:
		return false, errReserved
	}
}

func (r *frameReader) deliver(text bool, data []byte, h frameHandler) (bool, error) {
	if text && !utf8.Valid(data) {
		return false, errBadText
	}
	return h.onMessage(data), nil
}

// closeCode reads a close frame's status code: 1005 (none given) when the
// payload is empty.
func closeCode(payload []byte) (int, bool) {
	switch {
	case len(payload) == 0:
		return websocket.CloseNoStatusReceived, true
	case len(payload) == 1:
		return 0, false
	}
	code := int(binary.BigEndian.Uint16(payload))
	valid := code >= 1000 && code <= 1003 || code >= 1007 && code <= 1011 || code >= 3000 && code <= 4999
	return code, valid && utf8.Valid(payload[2:])
}

// isFrameError tells a protocol violation from other errors.
func isFrameError(err error) (*frameError, bool) {
	var fe *frameError
	return fe, errors.As(err, &fe)
}
