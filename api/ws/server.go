package ws

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/evaratech/evara/internal/telemetry"
)

// Identity is who a connection authenticated as. Scope is opaque here: it
// is handed back to Resolve and Replay.
type Identity struct {
	UserID string
	Scope  any
}

// Authenticate verifies a token. An error wrapping ErrUnauthorized refuses
// the connection (4001); any other error means the token could not be
// checked now (a store or the revocation list timed out) and closes it
// with 1013, try again later: a valid token must not be told it is not.
type Authenticate func(ctx context.Context, token string) (Identity, error)

// ErrUnauthorized is wrapped by Authenticate's refusals of a token.
var ErrUnauthorized = errors.New("unauthorized")

// Resolve names the nodes of a topic ("node:<id>", "community:<id>" or
// "alerts") that id may see. An error wrapping telemetry.ErrNotFound or
// telemetry.ErrInvalid refuses the subscription with an error message.
type Resolve func(ctx context.Context, id Identity, topic string) ([]telemetry.NodeID, error)

// Replay returns node's readings after entry since, oldest first, as
// TELEMETRY_UPDATE events.
type Replay func(ctx context.Context, id Identity, node telemetry.NodeID, since int64) ([]telemetry.LiveEvent, error)

// Sink receives a connection's events. Deliver never blocks and is safe for
// concurrent use (the outbox implements it).
type Sink interface {
	Deliver(telemetry.LiveEvent)
}

// Sessions opens the live-data session of a connection.
type Sessions interface {
	Open(id Identity, sink Sink) (Session, error)
}

// Session follows the nodes of a connection's topics. Watch replaces the
// topic's node set; Close ends the session (the connection calls it once,
// last).
type Session interface {
	Watch(topic string, nodes []telemetry.NodeID)
	Unwatch(topic string)
	Close()
}

// Options configures a Server. Sessions, Auth and Resolve are required;
// zero values of the rest take the defaults in brackets.
type Options struct {
	Sessions   Sessions
	Auth       Authenticate
	Resolve    Resolve
	Replay     Replay // nil: since is ignored
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics

	PingInterval time.Duration // [25s]
	MissedPongs  int           // [2]
	AuthTimeout  time.Duration // [5s]
	OutboxLimit  int           // control messages and unmergeable events per connection [64]
	WriteTimeout time.Duration // [10s]

	CallTimeout     time.Duration // bounds one Resolve (plus its Replay) [5s]
	MaxMessageSize  int64         // bytes of one client message [4096]
	MessageRate     float64       // client messages per second [20]
	MessageBurst    int           // [100]: a dashboard subscribes to its nodes at once
	BadMessageLimit int           // malformed messages in a row before 4003 [5]
	MaxTopics       int           // topics per connection [256]
	ReplayLimit     int           // events replayed per subscribe [1000]
	// Origins allowed to connect (the Origin header); empty allows any:
	// the token travels in the URL, a protocol or a message, never in a
	// cookie, so a foreign page cannot ride on a user's session.
	Origins []string
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PingInterval, 25*time.Second)
	def(&o.AuthTimeout, 5*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.CallTimeout, 5*time.Second)
	defInt(&o.MissedPongs, 2)
	defInt(&o.OutboxLimit, 64)
	defInt(&o.MessageBurst, 100)
	defInt(&o.BadMessageLimit, 5)
	defInt(&o.MaxTopics, 256)
	defInt(&o.ReplayLimit, 1000)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 4096
	}
	if o.MessageRate <= 0 {
		o.MessageRate = 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Buffer sizes: frames are small JSON objects, so small buffers keep an
// idle connection cheap; larger messages are written in several chunks.
// Write buffers come from a pool and are held only while writing.
const (
	readBufferSize  = 512
	writeBufferSize = 2048
	// closeGrace is how long a connection waits for the client's answer
	// to our close frame.
	closeGrace = time.Second
	// localStatus carries the status of a refused handshake from the
	// upgrader's Error hook to the handler.
	localStatus = "evara.ws.status"
)

// Server accepts and serves WebSocket connections.
type Server struct {
	opts     Options
	log      *slog.Logger
	upgrader websocket.FastHTTPUpgrader
	stats    counters
	frames   frameCache

	// base is the context of every callback; Shutdown cancels it.
	base   context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closing bool
	conns   map[*conn]struct{}
	wg      sync.WaitGroup // one per registered connection, until it ends
	nextID  atomic.Uint64

	pollOnce sync.Once
	poll     *poller // nil until a connection can use it, or where there is none
}

// New builds a Server. It panics when a required option is missing.
func New(opts Options) *Server {
	if opts.Sessions == nil || opts.Auth == nil || opts.Resolve == nil {
		panic("ws: Options.Sessions, Auth and Resolve are required")
	}
	opts = opts.withDefaults()
	s := &Server{opts: opts, log: opts.Logger, conns: map[*conn]struct{}{}}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.upgrader = websocket.FastHTTPUpgrader{
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: writeBufferSize,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.originAllowed,
		Error: func(ctx *fasthttp.RequestCtx, status int, _ error) {
			ctx.SetUserValue(localStatus, status)
		},
	}
	if opts.Registerer != nil {
		s.register(opts.Registerer)
	}
	return s
}

// Attach prepares the fasthttp server under app for this Server's
// connections; call it once, before app serves. fasthttp then hands a
// connection over at the upgrade (KeepHijackedConns) instead of keeping the
// upgrade request's goroutine, context and headers for as long as the
// connection lives, and it releases its read buffer before the upgrade
// when the client sent nothing after its request (ReduceMemoryUsage; a
// client must wait for the handshake's answer, RFC 6455 §4.1), so an idle
// connection holds neither. Both settings apply to every request app
// serves: no other handler of ours hijacks, and ReduceMemoryUsage costs
// an HTTP keep-alive connection a pool round trip per request.
//
// Without Attach, Handler still works: each connection then runs in the
// goroutine fasthttp hijacked it in and holds what that goroutine holds.
func (s *Server) Attach(app *fiber.App) {
	srv := app.Server()
	srv.KeepHijackedConns = true
	srv.ReduceMemoryUsage = true
}

// Handler upgrades GET /api/v1/ws/ws. The token, if the request carries one
// (?token= or as the WebSocket protocol), is verified after the upgrade.
func (s *Server) Handler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !websocket.FastHTTPIsWebSocketUpgrade(c.Context()) {
			return fiber.ErrUpgradeRequired
		}
		if s.isClosing() {
			return fiber.NewError(fiber.StatusServiceUnavailable, "server shutting down")
		}
		token, _ := UpgradeToken(c)
		if p := protocolToken(c.Get(fiber.HeaderSecWebSocketProtocol)); p != "" {
			// Echoed back: a browser fails the handshake unless the server
			// picks one of the protocols it offered.
			c.Set(fiber.HeaderSecWebSocketProtocol, p)
		}
		// Read now: the handler runs after the request is released.
		detached := c.App().Server().KeepHijackedConns
		err := s.upgrader.Upgrade(c.Context(), func(wc *websocket.Conn) {
			if !detached {
				s.serve(wc, token, false) // fasthttp closes the TCP connection after it
				return
			}
			go s.serve(wc, token, true)
		})
		if err != nil {
			status, _ := c.Context().UserValue(localStatus).(int)
			if status == 0 {
				status = fiber.StatusBadRequest
			}
			return fiber.NewError(status, err.Error())
		}
		return nil
	}
}

// originAllowed checks the Origin header against Options.Origins (any,
// when empty).
func (s *Server) originAllowed(ctx *fasthttp.RequestCtx) bool {
	if len(s.opts.Origins) == 0 {
		return true
	}
	origin := string(ctx.Request.Header.Peek(fiber.HeaderOrigin))
	for _, o := range s.opts.Origins {
		if o == origin {
			return true
		}
	}
	return false
}

// UpgradeToken is the token a WebSocket upgrade request carries, as the
// Handler reads it: ?token=, else the one offered as its protocol ("" for
// none; a copy that outlives the request's buffers). ok is false when the
// request is not a WebSocket upgrade.
func UpgradeToken(c *fiber.Ctx) (token string, ok bool) {
	if !websocket.FastHTTPIsWebSocketUpgrade(c.Context()) {
		return "", false
	}
	if t := c.Query("token"); t != "" {
		return strings.Clone(t), true
	}
	return protocolToken(c.Get(fiber.HeaderSecWebSocketProtocol)), true
}

// protocolToken is the token offered as a WebSocket protocol: the only or
// last of the comma-separated list (so "bearer, <token>" works too).
func protocolToken(header string) string {
	if header == "" {
		return ""
	}
	parts := strings.Split(header, ",")
	return strings.Clone(strings.TrimSpace(parts[len(parts)-1]))
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// add registers c; false when the server is shutting down. The WaitGroup
// is only added to under mu with closing false, so Shutdown's Wait never
// races an Add.
func (s *Server) add(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Shutdown refuses new upgrades, closes every connection with 4000 and
// waits for their goroutines. When ctx ends first, the remaining
// connections are cut (their TCP connections closed), which ends their
// goroutines at once; Shutdown waits for that and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	for _, c := range s.snapshot() {
		c.requestClose(CloseShutdown, "server shutting down, reconnect")
	}
	// Then the calls in flight (Authenticate, Resolve, Replay) end: their
	// connections close with 4000, asked for first.
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	defer s.closePoller()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	for _, c := range s.snapshot() {
		c.cut()
	}
	<-done
	return errors.Join(errors.New("ws: connections still open at the shutdown deadline"), ctx.Err())
}

// closePoller stops the poller, once every connection has ended.
func (s *Server) closePoller() {
	s.pollOnce.Do(func() {}) // none is made from now on
	if s.poll != nil {
		s.poll.close()
	}
}

// Close codes of this package (see the package doc).
const (
	CloseShutdown     = 4000
	CloseUnauthorized = 4001
	CloseAuthTimeout  = 4002
	CloseBadMessages  = 4003
	CloseHeartbeat    = 4004
	CloseSlowConsumer = 4008
	CloseTooMany      = 4009
	closeInternal     = websocket.CloseInternalServerErr
	closeTryLater     = websocket.CloseTryAgainLater
)
