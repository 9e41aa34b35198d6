package ws

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/evaratech/evara/internal/wsframe"
)

// goroutinesRunning counts the goroutines whose stack shows fn.
func goroutinesRunning(fn string) int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// An idle connection holds no goroutine: the poller (one for all) reports
// what clients send, and the writer runs only while there is something to
// write, and comes back for the next event.
func TestIdleConnectionHoldsNoGoroutine(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	const n = 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = h.connect(t, "ann")
		clients[i].subscribe("node:n1")
	}
	idle := func() bool {
		return ourGoroutines() == 0 && goroutinesRunning("api/ws.(*poller).run") == 1
	}
	eventually(t, "no goroutine per idle connection, one poller", idle)
	for entry := int64(1); entry <= 3; entry++ {
		h.sessions.push(telemetryEvent("n1", entry))
		for _, cl := range clients {
			if m := cl.read(); m["entry_id"] != float64(entry) {
				t.Fatalf("got %v, want entry %d", m, entry)
			}
		}
	}
	eventually(t, "the writers gone again", idle)
	for _, cl := range clients { // and they still read
		cl.subscribe("node:n2")
	}
}

// Without Attach, a connection runs in fasthttp's hijack goroutine; it
// works the same.
func TestWithoutAttach(t *testing.T) {
	h := newHarness(t, Options{PingInterval: 50 * time.Millisecond, MissedPongs: 2}, inline)
	cl := h.connect(t, "ann")
	cl.subscribe("node:n1")
	h.sessions.push(telemetryEvent("n1", 1))
	if m := cl.read(); m["event"] != "TELEMETRY_UPDATE" || m["entry_id"] != 1.0 {
		t.Fatalf("got %v", m)
	}
	if m := cl.read(); m["type"] != "ping" {
		t.Fatalf("got %v, want a ping", m)
	}
	cl.expectClose(CloseHeartbeat) // it never answers
	eventually(t, "the connection gone", func() bool { return h.srv.Stats().Connections == 0 && ourGoroutines() == 0 })
}

// A refused handshake gets the upgrader's status, not a generic one.
func TestOriginRefused(t *testing.T) {
	h := newHarness(t, Options{Origins: []string{"https://dash.example"}}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.url+"?token=good-ann", &websocket.DialOptions{
		HTTPHeader: map[string][]string{"Origin": {"https://evil.example"}}})
	if err == nil {
		t.Fatal("a foreign origin was upgraded")
	}
	if resp == nil || resp.StatusCode != 403 {
		t.Fatalf("foreign origin: %v, want 403", resp)
	}
	c, _, err := websocket.Dial(ctx, h.url+"?token=good-ann", &websocket.DialOptions{
		HTTPHeader: map[string][]string{"Origin": {"https://dash.example"}}})
	if err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	_ = c.CloseNow()
}

// BenchmarkIdleConnectionMemory reports the server's heap and stack bytes
// per idle connection subscribed to 10 nodes (the fake session's share is
// small; the real session actor is measured by `evara bench ws`). The
// clients are bare TCP connections speaking just enough WebSocket, so
// that their own memory (a socket each, ~0.3 KB) hardly counts.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	for _, mode := range []struct {
		name  string
		flags harnessFlags
	}{{"attached", 0}, {"inline", inline}} {
		b.Run(mode.name, func(b *testing.B) {
			h := newHarness(b, Options{}, mode.flags)
			var perConn float64
			for range b.N {
				perConn = idleConnectionBytes(b, h, 1000)
			}
			b.ReportMetric(perConn, "bytes/conn")
		})
	}
}

// idleConnectionBytes opens conns connections following 10 nodes each,
// measures what they hold once idle, and closes them.
func idleConnectionBytes(b *testing.B, h *harness, conns int) float64 {
	b.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(h.url, "ws://"), "/ws")
	clients := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
		eventually(b, "the connections gone", func() bool { return h.srv.Stats().Connections == 0 })
	}()
	before := inUse()
	for range conns {
		c, err := rawDial(addr)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		for k := range 10 {
			if err := rawSubscribe(c, fmt.Sprintf("node:n%d", k)); err != nil {
				b.Fatal(err)
			}
		}
	}
	eventually(b, "the writers gone", func() bool { return goroutinesRunning("api/ws.(*conn).writeLoop") == 0 })
	return float64(inUse()-before) / float64(conns)
}

func inUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// rawDial opens a WebSocket connection by hand, authenticated by ?token=.
func rawDial(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := "GET /ws?token=good-bench HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		_ = c.Close()
		return nil, err
	}
	// Read the answer byte by byte: nothing after it may be consumed.
	var head []byte
	one := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := c.Read(one); err != nil {
			_ = c.Close()
			return nil, err
		}
		head = append(head, one[0])
	}
	if !strings.HasPrefix(string(head), "HTTP/1.1 101") {
		_ = c.Close()
		return nil, fmt.Errorf("handshake: %q", head)
	}
	return c, nil
}

// rawSubscribe sends a subscribe message as a masked text frame and reads
// the reply frame.
func rawSubscribe(c net.Conn, topic string) error {
	frame := clientFrame(wsframe.OpText, true, []byte(`{"type":"subscribe","topic":"`+topic+`"}`))
	if _, err := c.Write(frame); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 16)
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return err
	}
	n := int(hdr[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return err
		}
		n = int(binary.BigEndian.Uint16(ext[:]))
	}
	reply := make([]byte, n)
	if _, err := io.ReadFull(br, reply); err != nil {
		return err
	}
	if !strings.Contains(string(reply), `"subscribed"`) || br.Buffered() > 0 {
		return fmt.Errorf("subscribe %s: got %q", topic, reply)
	}
	return nil
}
