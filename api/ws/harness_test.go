package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gofiber/fiber/v2"
	"go.uber.org/goleak"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp (under fiber) keeps one process-wide goroutine that refreshes
		// the Date header, started once and never stopped.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp's worker-pool cleaner notices Stop only after its current
		// sleep (MaxIdleWorkerDuration, 10s); it then exits.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// patience bounds every wait of a test: a failure bound, never a timing
// assertion.
const patience = 10 * time.Second

// fakeSessions stands for internal/app's session actors: it records what
// each connection watches and lets a test push events to the connections
// watching a node.
type fakeSessions struct {
	mu       sync.Mutex
	sessions []*fakeSession
	fail     bool
	// onWatch, when set, runs at every Watch (to deliver a current reading
	// as the real session does).
	onWatch func(Sink, []telemetry.NodeID)
}

type fakeSession struct {
	parent *fakeSessions
	id     Identity
	sink   Sink

	mu      sync.Mutex
	topics  map[string][]telemetry.NodeID
	unwatch []string
	closed  bool
}

func (f *fakeSessions) Open(id Identity, sink Sink) (Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("actor system stopped")
	}
	s := &fakeSession{parent: f, id: id, sink: sink, topics: map[string][]telemetry.NodeID{}}
	f.sessions = append(f.sessions, s)
	return s, nil
}

func (s *fakeSession) Watch(topic string, nodes []telemetry.NodeID) {
	if topic == "node:watchpanic" {
		panic("watch exploded")
	}
	s.mu.Lock()
	s.topics[topic] = nodes
	s.mu.Unlock()
	s.parent.mu.Lock()
	onWatch := s.parent.onWatch
	s.parent.mu.Unlock()
	if onWatch != nil {
		onWatch(s.sink, nodes)
	}
}

func (s *fakeSession) Unwatch(topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.topics, topic)
	s.unwatch = append(s.unwatch, topic)
}

func (s *fakeSession) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func (s *fakeSession) watches(node telemetry.NodeID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, nodes := range s.topics {
		if slices.Contains(nodes, node) {
			return true
		}
	}
	return false
}

// push delivers ev to every open session watching its node (alerts: all).
func (f *fakeSessions) push(ev telemetry.LiveEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sessions {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed && (ev.NodeID == "" || s.watches(ev.NodeID)) {
			s.sink.Deliver(ev)
		}
	}
}

func (f *fakeSessions) all() []*fakeSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sessions)
}

// fakeAuth accepts "good-<user>".
// fakeAuth: good-<user> is user's token; store-down cannot be checked;
// anything else is refused.
func fakeAuth(_ context.Context, token string) (Identity, error) {
	if token == "store-down" {
		return Identity{}, errors.New("the revocation list timed out")
	}
	user, ok := strings.CutPrefix(token, "good-")
	if !ok {
		return Identity{}, fmt.Errorf("%w: bad token", ErrUnauthorized)
	}
	return Identity{UserID: user, Scope: "scope-of-" + user}, nil
}

// fakeResolve: community:c1 is n1..n3, node:missing… is out of scope,
// node:boom panics, node:down fails, anything else of the right form is
// itself.
func fakeResolve(ctx context.Context, id Identity, topic string) ([]telemetry.NodeID, error) {
	if id.Scope != "scope-of-"+id.UserID {
		return nil, errors.New("identity lost on the way")
	}
	switch {
	case topic == "community:c1":
		return []telemetry.NodeID{"n1", "n2", "n3"}, nil
	case topic == "alerts":
		return nil, nil
	case topic == "node:boom":
		panic("resolve exploded")
	case topic == "node:down":
		return nil, fmt.Errorf("store: %w", telemetry.ErrUnavailable)
	case topic == "node:bad-id":
		return nil, fmt.Errorf("node id: %w", telemetry.ErrInvalid)
	case strings.HasPrefix(topic, "node:missing"):
		return nil, fmt.Errorf("node: %w", telemetry.ErrNotFound)
	case strings.HasPrefix(topic, "node:"):
		return []telemetry.NodeID{telemetry.NodeID(strings.TrimPrefix(topic, "node:"))}, nil
	}
	return nil, fmt.Errorf("topic: %w", telemetry.ErrNotFound)
}

type harness struct {
	srv      *Server
	sessions *fakeSessions
	url      string
}

// harnessFlags vary the harness.
type harnessFlags int

const (
	// smallBuffers shrinks the server's socket send buffer, so that a
	// client that does not read blocks the writer soon.
	smallBuffers harnessFlags = 1 << iota
	// inline leaves Attach out: connections run in fasthttp's hijack
	// goroutine.
	inline
)

// newHarness serves a Server at ws://127.0.0.1:<port>/ws with the fakes
// filling what opts leaves nil.
func newHarness(t testing.TB, opts Options, flags harnessFlags) *harness {
	t.Helper()
	h := &harness{sessions: &fakeSessions{}}
	if opts.Sessions == nil {
		opts.Sessions = h.sessions
	}
	if opts.Auth == nil {
		opts.Auth = fakeAuth
	}
	if opts.Resolve == nil {
		opts.Resolve = fakeResolve
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = time.Hour // tests about pings set their own
	}
	h.srv = New(opts)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if flags&inline == 0 {
		h.srv.Attach(app)
	}
	app.Get("/ws", h.srv.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "ws://" + ln.Addr().String() + "/ws"
	var served sync.WaitGroup
	served.Add(1)
	go func() {
		defer served.Done()
		if flags&smallBuffers != 0 {
			_ = app.Listener(smallListener{ln})
			return
		}
		_ = app.Listener(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("ws shutdown: %v", err)
		}
		if err := app.ShutdownWithContext(ctx); err != nil {
			t.Errorf("fiber shutdown: %v", err)
		}
		served.Wait()
	})
	return h
}

type smallListener struct{ net.Listener }

func (l smallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// client is a real WebSocket client (coder/websocket) over TCP.
type client struct {
	t *testing.T
	c *websocket.Conn
}

// dial connects with query appended to the URL and protocols offered.
func (h *harness) dial(t *testing.T, query string, protocols ...string) (*client, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.url+query, &websocket.DialOptions{Subprotocols: protocols, HTTPClient: smallReadClient})
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	c.SetReadLimit(1 << 20)
	cl := &client{t: t, c: c}
	t.Cleanup(func() { _ = c.CloseNow() })
	return cl, resp
}

// smallReadClient dials with a small socket receive buffer, so that a
// client that stops reading stops the server's writes soon.
var smallReadClient = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	return c, err
}}}

// connect dials with a good token and checks the connection works.
func (h *harness) connect(t *testing.T, user string) *client {
	t.Helper()
	cl, _ := h.dial(t, "?token=good-"+user)
	return cl
}

func (cl *client) send(v any) {
	cl.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.sendRaw(string(b))
}

func (cl *client) sendRaw(s string) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		cl.t.Fatalf("write %s: %v", s, err)
	}
}

// read returns the next message as a map, failing the test on an error.
func (cl *client) read() map[string]any {
	cl.t.Helper()
	m, err := cl.tryRead()
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	return m
}

func (cl *client) tryRead() (map[string]any, error) {
	raw, err := cl.readRaw()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not JSON: %s", raw)
	}
	return m, nil
}

func (cl *client) readRaw() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	_, raw, err := cl.c.Read(ctx)
	return raw, err
}

// expectClose reads until the connection ends and checks its close code.
func (cl *client) expectClose(code websocket.StatusCode) {
	cl.t.Helper()
	for {
		_, err := cl.readRaw()
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != code {
			cl.t.Fatalf("connection ended with %v (%d), want close code %d", err, got, code)
		}
		return
	}
}

// subscribe subscribes and expects the reply.
func (cl *client) subscribe(topic string) {
	cl.t.Helper()
	cl.send(map[string]any{"type": "subscribe", "topic": topic})
	if m := cl.read(); m["type"] != "subscribed" || m["topic"] != topic {
		cl.t.Fatalf("subscribe %s: got %v", topic, m)
	}
}

// eventually polls cond until it holds or patience runs out.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func telemetryEvent(node telemetry.NodeID, entry int64) telemetry.LiveEvent {
	return telemetry.LiveEvent{Kind: telemetry.LiveTelemetry, NodeID: node, ProducedUnixMs: 1767225600000 + entry, EntryID: entry,
		At: time.Date(2026, 1, 1, 0, 0, int(entry%60), 0, time.UTC), Metrics: map[string]float64{"water_level": float64(entry)},
		Status: telemetry.StatusOnline}
}
