package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6455 §4.2.2 names SHA-1 for the handshake's accept key
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/evaratech/evara/internal/wsframe"
)

// benchConn is the load generator's WebSocket client: just what a session
// of `evara bench ws` needs of RFC 6455 (the handshake with the token as
// the protocol, masked text frames out, text frames in, fragments joined)
// and nothing per frame that it can avoid — one buffered reader and one
// payload buffer, reused — because thousands of them share the member's
// CPU, and every microsecond they spend is one the member does not get.
type benchConn struct {
	conn    net.Conn
	br      *bufio.Reader
	payload []byte // the message being read; reused
}

// benchReadBuffer holds a few of the member's frames.
const benchReadBuffer = 2048

// dialBench opens a WebSocket connection to wsURL offering token as its
// protocol. It ends when ctx does.
func dialBench(ctx context.Context, wsURL, token string) (*benchConn, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	b := &benchConn{conn: conn, br: bufio.NewReaderSize(conn, benchReadBuffer)}
	if err := b.handshake(u, token); err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return b, nil
}

// websocketGUID is RFC 6455's, for the accept key.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func (b *benchConn) handshake(u *url.URL, token string) error {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Protocol: " + token + "\r\n\r\n"
	if _, err := io.WriteString(b.conn, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(b.br, nil)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("bench ws: handshake answered %s", resp.Status)
	}
	sum := sha1.Sum([]byte(key + websocketGUID)) //nolint:gosec // see the import
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return errors.New("bench ws: handshake with a wrong accept key")
	}
	return nil
}

// close closes the TCP connection (no close handshake: the generator is
// done with it).
func (b *benchConn) close() error { return b.conn.Close() }

// writeText sends p as one masked text frame.
func (b *benchConn) writeText(p []byte) error {
	_, err := b.conn.Write(wsframe.AppendClient(make([]byte, 0, 14+len(p)), wsframe.OpText, true, p))
	return err
}

// benchClosed is the member's close frame.
type benchClosed struct{ code int }

func (e benchClosed) Error() string {
	return fmt.Sprintf("bench ws: the member closed the connection (%d)", e.code)
}

// closeReason names how a session's connection ended: the member's close
// code, or the error's kind when it just ended.
func closeReason(err error) string {
	var bc benchClosed
	switch {
	case errors.As(err, &bc):
		return strconv.Itoa(bc.code)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	default:
		return "error"
	}
}

// readMessage returns the next data message; it is valid until the next
// call. Control frames are skipped (a close ends the connection).
func (b *benchConn) readMessage(limit int) ([]byte, error) {
	b.payload = b.payload[:0]
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(b.br, hdr[:]); err != nil {
			return nil, err
		}
		fin, op := hdr[0]&0x80 != 0, hdr[0]&0x0f
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(b.br, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(b.br, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > uint64(limit-len(b.payload)) {
			return nil, fmt.Errorf("bench ws: a message over %d bytes", limit)
		}
		start := len(b.payload)
		b.payload = slices.Grow(b.payload, int(n))[:start+int(n)]
		if _, err := io.ReadFull(b.br, b.payload[start:]); err != nil {
			return nil, err
		}
		switch {
		case op == 0x8:
			code := 1005 // none given
			if len(b.payload)-start >= 2 {
				code = int(binary.BigEndian.Uint16(b.payload[start:]))
			}
			return nil, benchClosed{code}
		case op >= 0x8: // ping or pong: nothing to do for the generator
			b.payload = b.payload[:start]
		case fin:
			return b.payload, nil
		}
	}
}
