package webhook

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/evaratech/evara/internal/telemetry"
)

// Store is what a Dispatcher needs of the store.
type Store interface {
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]telemetry.DueDelivery, error)
	MarkDelivered(ctx context.Context, id string, status int) error
	MarkFailed(ctx context.Context, id string, status int, errText string, nextAttempt time.Time) error
	DeadLetter(ctx context.Context, id string, status int, errText string) error
}

// Opener opens sealed secrets (a *keyring.Keyring). A subscription's
// secret is sealed with the subscription's id as associated data.
type Opener interface {
	Open(keyID string, ciphertext, aad []byte) ([]byte, error)
}

// Options tunes a Dispatcher; zero values take the defaults.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
	// Client sends the requests (default: a client of its own). Its
	// redirect policy is replaced by the Dispatcher's: same host and
	// method only.
	Client *http.Client
	Poll   time.Duration // how often due deliveries are looked for; default 250ms
	// Wake makes the dispatcher look for due deliveries at once: whoever
	// queues some sends on it without blocking (a buffer of 1 is enough).
	// nil: only every Poll.
	Wake        <-chan struct{}
	Batch       int              // deliveries taken per poll, and so at most in flight; default 100
	Workers     int              // requests sent at once; default 4
	Timeout     time.Duration    // per attempt, response included; default 10s
	Backoff     time.Duration    // wait after the first failure, doubling after each; default 10s
	MaxBackoff  time.Duration    // cap of the wait; default 1h
	GiveUpAfter time.Duration    // a delivery still failing this long after it was queued is dead-lettered; default 24h
	Now         func() time.Time // default time.Now
	// PublicOnly refuses to send to loopback, private, link-local and
	// other non-public addresses (checked on the address dialled, after
	// name resolution), and ignores proxy settings: a subscriber could
	// otherwise aim the dispatcher at internal services and read their
	// answers back from the dead letters. internal/app sets it in
	// production. It applies to the default client only, not Client.
	PublicOnly bool
	// Active reports whether this process is the one that sends (nil:
	// always). The store does not claim deliveries, so in a cluster exactly
	// one member may send: internal/app passes "this member owns the
	// dispatcher's key by rendezvous hashing". While the members disagree
	// on the topology two may send for a moment; delivery is at least once
	// and receivers deduplicate by the body's id.
	Active func() bool
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 10 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Outcomes of an attempt, the label of evara_webhook_deliveries_total.
const (
	outcomeDelivered    = "delivered"
	outcomeFailed       = "failed"
	outcomeDeadLettered = "dead_lettered"
)

// Dispatcher sends due deliveries. It runs one loop: each poll takes up to
// Batch due deliveries, sends them (Workers at a time) and records every
// outcome before polling again — the store hands out deliveries without
// claiming them, so overlapping polls would send one twice. For the same
// reason only one Dispatcher may run against a database.
type Dispatcher struct {
	store    Store
	secrets  Opener
	opts     Options
	client   *http.Client
	log      *slog.Logger
	outcomes *prometheus.CounterVec

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewDispatcher returns a Dispatcher; it sends nothing until Run or Start.
// It fails only when its metrics cannot be registered.
func NewDispatcher(store Store, secrets Opener, opts Options) (*Dispatcher, error) {
	opts.defaults()
	d := &Dispatcher{store: store, secrets: secrets, opts: opts, log: opts.Logger,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evara_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: delivered, failed (to be retried), dead_lettered.",
		}, []string{"outcome"}),
	}
	for _, o := range []string{outcomeDelivered, outcomeFailed, outcomeDeadLettered} {
		d.outcomes.WithLabelValues(o)
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(d.outcomes); err != nil {
			return nil, err
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if opts.PublicOnly {
		dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: publicOnly}
		transport.DialContext, transport.Proxy = dialer.DialContext, nil
	}
	client := &http.Client{Transport: transport}
	if opts.Client != nil {
		c := *opts.Client
		client = &c
	}
	client.CheckRedirect = sameHostRedirect
	d.client = client
	return d, nil
}

// Run sends due deliveries until ctx ends; an attempt cut short by the end
// is not recorded, so the delivery is sent again by the next Run. It
// returns nil: store failures are logged and retried on the next poll.
func (d *Dispatcher) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	defer d.client.CloseIdleConnections() // their read loops are goroutines of ours
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-d.opts.Wake: // the Reset below drops a tick pending meanwhile (Go ≥ 1.23 timers)
		}
		if d.opts.Active != nil && !d.opts.Active() {
			timer.Reset(d.opts.Poll)
			continue
		}
		full := d.poll(ctx)
		if full {
			timer.Reset(0) // more are waiting
		} else {
			timer.Reset(d.opts.Poll)
		}
	}
}

// Start runs Run in a goroutine of the Dispatcher's until Stop.
func (d *Dispatcher) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		_ = d.Run(ctx) // Run only returns nil
	}()
}

// Stop ends what Start started and waits for it; in-flight requests are
// cancelled.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		return
	}
	d.cancel()
	<-d.done
	d.cancel, d.done = nil, nil
}

// poll sends one batch and reports whether it was full.
func (d *Dispatcher) poll(ctx context.Context) bool {
	due, err := d.store.DueDeliveries(ctx, d.opts.Now(), d.opts.Batch)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("reading due webhook deliveries failed; retrying", "err", err, "next_in", d.opts.Poll.String())
		}
		return false
	}
	var g errgroup.Group
	g.SetLimit(d.opts.Workers)
	for _, dd := range due {
		g.Go(func() error {
			d.deliver(ctx, dd)
			return nil
		})
	}
	_ = g.Wait() // deliver returns nothing
	return len(due) == d.opts.Batch && ctx.Err() == nil
}

// deliver makes one attempt and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, dd telemetry.DueDelivery) {
	status, failure := d.attempt(ctx, dd)
	if ctx.Err() != nil {
		return // stopping: the attempt is retried by the next run
	}
	log := d.log.With("delivery_id", dd.ID, "subscription_id", dd.SubscriptionID, "event", dd.Event, "attempt", dd.Attempts+1)
	if failure == "" {
		d.record(log, outcomeDelivered, d.store.MarkDelivered(ctx, dd.ID, status))
		return
	}
	now := d.opts.Now()
	giveUp := dd.CreatedAt.Add(d.opts.GiveUpAfter)
	if !now.Before(giveUp) {
		log.Warn("webhook delivery dead-lettered", "status", status, "reason", failure)
		d.record(log, outcomeDeadLettered, d.store.DeadLetter(ctx, dd.ID, status, failure))
		return
	}
	next := now.Add(d.backoff(dd.Attempts))
	if next.After(giveUp) {
		next = giveUp // the last attempt is made at the deadline
	}
	log.Debug("webhook delivery failed; retrying", "status", status, "reason", failure, "next_at", next)
	d.record(log, outcomeFailed, d.store.MarkFailed(ctx, dd.ID, status, failure, next))
}

func (d *Dispatcher) record(log *slog.Logger, outcome string, err error) {
	switch {
	case err == nil:
		d.outcomes.WithLabelValues(outcome).Inc()
	case errors.Is(err, telemetry.ErrNotFound), errors.Is(err, telemetry.ErrConflict):
		// The subscription was deleted, or the delivery finished, meanwhile.
	default:
		log.Warn("recording a webhook attempt failed; the delivery will be sent again", "outcome", outcome, "err", err)
	}
}

// backoff is the wait after a delivery's attempts-th failed attempt
// (counting from 0): Backoff doubling up to MaxBackoff, of which a random
// half is taken off so that deliveries failing together spread out.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	wait := min(d.opts.Backoff, d.opts.MaxBackoff)
	for i := 0; i < attempts && wait < d.opts.MaxBackoff; i++ {
		wait = min(2*wait, d.opts.MaxBackoff)
	}
	return wait/2 + rand.N(wait/2+1) // math/rand: jitter, not a secret
}
