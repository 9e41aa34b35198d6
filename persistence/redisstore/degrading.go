package redisstore

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a Degrading.
const (
	// degradedCallTimeout bounds each call to Redis, so that a Redis that
	// stops answering costs a request at most this long before the local
	// answer is used.
	degradedCallTimeout = 500 * time.Millisecond
	// degradedProbeEvery is how often, while degraded, one call tries Redis
	// again; all the others go straight to the local fallback.
	degradedProbeEvery = time.Second
	// recoverRounds bounds how often one recovery re-sends revocations that
	// arrived while it was writing the previous batch, before leaving the
	// rest to the next probe.
	recoverRounds = 3
)

// Degrading answers from a Store and, while Redis fails, from a Local, so
// that a Redis outage never turns into errors (SPEC §6). It logs once when it
// degrades and once when it recovers, and Degraded reports the state.
//
// Every revocation made through a Degrading is also kept in its Local (until
// the token's exp), and IsRevoked refuses a token that either Redis or the
// Local knows. So this replica always refuses the tokens it revoked itself,
// whatever happens to Redis.
//
// While degraded:
//   - rate limits are per replica (each one's Local), so a client may get up
//     to the limit times the number of replicas;
//   - revocations made elsewhere are not seen here, and revocations made here
//     are not seen elsewhere. When a probe finds Redis back, every live
//     revocation in the Local is written to Redis again before the Degrading
//     reports recovery (this also restores them if Redis came back empty).
//     The window: from the revocation until the first successful probe after
//     Redis returns (about degradedProbeEvery, given traffic), other replicas
//     accept the token; if this replica stops before Redis returns, its
//     revocations reach the others only through their own expiry of the
//     token. A Redis restart so quick that no call here fails (go-redis
//     retries on a fresh connection) is not noticed and not replayed;
//   - latest-reading snapshots are written to and read from the Local.
//
// A Degrading is safe for concurrent use and starts no goroutine: probes run
// inline, one call per degradedProbeEvery, and the recovery's replay runs in
// the call that found Redis back. It does not own the Store; whoever opened
// the Store closes it.
type Degrading struct {
	primary     *Store
	local       *Local
	log         *slog.Logger
	callTimeout time.Duration
	probeEvery  time.Duration

	degraded atomic.Bool // written only with mu held

	mu        sync.Mutex // guards the fields below; never held across a Redis call
	since     time.Time  // when the current outage began
	nextProbe time.Time
}

// NewDegrading puts primary in front of fallback. A nil logger discards.
func NewDegrading(primary *Store, fallback *Local, logger *slog.Logger) *Degrading {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Degrading{
		primary:     primary,
		local:       fallback,
		log:         logger,
		callTimeout: degradedCallTimeout,
		probeEvery:  degradedProbeEvery,
	}
}

// Degraded reports whether calls are being answered from the local fallback.
func (d *Degrading) Degraded() bool { return d.degraded.Load() }

// tryPrimary reports whether this call should go to Redis: always when
// healthy, and for one call per probe interval when degraded.
func (d *Degrading) tryPrimary() bool {
	if !d.degraded.Load() {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.degraded.Load() { // recovered meanwhile
		return true
	}
	now := d.local.now()
	if now.Before(d.nextProbe) {
		return false
	}
	d.nextProbe = now.Add(d.probeEvery)
	return true
}

// call runs op against Redis within the call timeout and records the outcome.
// It reports whether op succeeded; on false the caller answers locally.
func (d *Degrading) call(ctx context.Context, op func(context.Context) error) bool {
	if !d.tryPrimary() {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, d.callTimeout)
	err := op(cctx)
	cancel()
	if err == nil {
		if d.degraded.Load() {
			d.recover(ctx)
		}
		return true
	}
	if ctx.Err() == nil { // otherwise the caller gave up: not Redis's fault
		d.fail(err)
	}
	return false
}

func (d *Degrading) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.local.now()
	d.nextProbe = now.Add(d.probeEvery)
	if d.degraded.Load() {
		return
	}
	d.since = now
	d.degraded.Store(true)
	d.log.Warn("redis unavailable: answering from the local fallback", "error", err)
}

// recover writes every live local revocation to Redis and then leaves the
// degraded state, unless a revocation arrived meanwhile (then it writes
// again). A Revoke writes its Local before it looks at the state, and the
// state flips with mu held right after the revision is checked, so a
// revocation is either in the batch written here or sent to Redis by its own
// call.
func (d *Degrading) recover(ctx context.Context) {
	for range recoverRounds {
		batch, rev := d.local.revocations()
		cctx, cancel := context.WithTimeout(ctx, d.callTimeout+time.Duration(len(batch))*time.Microsecond)
		err := d.primary.revokeHashes(cctx, batch)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				d.fail(err) // stay degraded; the next probe tries again
			}
			return
		}
		d.mu.Lock()
		if !d.degraded.Load() { // another call recovered first
			d.mu.Unlock()
			return
		}
		if d.local.revisionNow() == rev {
			d.degraded.Store(false)
			outage := d.local.now().Sub(d.since)
			d.mu.Unlock()
			d.log.Info("redis recovered", "outage", outage, "revocations_replayed", len(batch))
			return
		}
		d.mu.Unlock()
	}
}

// Revoke records the revocation locally and in Redis; during an outage
// locally only, to be written to Redis when it returns. It fails only for an
// empty jti.
func (d *Degrading) Revoke(ctx context.Context, jti string, until time.Time) error {
	if jti == "" {
		return ErrEmptyJTI
	}
	h := hashJTI(jti)
	d.local.revokeHash(h, until) // first: see recover
	// A logout whose client stopped waiting must still land: only the call
	// timeout bounds the write.
	d.call(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return d.primary.revokeHashes(ctx, map[jtiHash]time.Time{h: until})
	})
	return nil
}

// IsRevoked reports whether Redis or this replica's own record knows jti as
// revoked; during an outage only the latter is asked.
func (d *Degrading) IsRevoked(ctx context.Context, jti string) (bool, error) {
	if mine, _ := d.local.IsRevoked(ctx, jti); mine {
		return true, nil
	}
	var revoked bool
	d.call(ctx, func(ctx context.Context) (err error) {
		revoked, err = d.primary.IsRevoked(ctx, jti)
		return err
	})
	return revoked, nil
}

// Allow counts the call in Redis, or in the local fallback during an outage.
// It fails only for an invalid limit.
func (d *Degrading) Allow(ctx context.Context, key string, limit Limit) (Decision, error) {
	if _, err := limit.normalize(); err != nil {
		return Decision{}, err
	}
	var dec Decision
	if d.call(ctx, func(ctx context.Context) (err error) {
		dec, err = d.primary.Allow(ctx, key, limit)
		return err
	}) {
		return dec, nil
	}
	return d.local.Allow(ctx, key, limit)
}

// PutLatest writes the snapshot to Redis, or to the local fallback during an
// outage.
func (d *Degrading) PutLatest(ctx context.Context, node string, payload []byte, ttl time.Duration) error {
	if d.call(ctx, func(ctx context.Context) error { return d.primary.PutLatest(ctx, node, payload, ttl) }) {
		return nil
	}
	return d.local.PutLatest(ctx, node, payload, ttl)
}

// GetLatest reads the snapshot from Redis, or from the local fallback during
// an outage.
func (d *Degrading) GetLatest(ctx context.Context, node string) ([]byte, bool, error) {
	var (
		b  []byte
		ok bool
	)
	if d.call(ctx, func(ctx context.Context) (err error) {
		b, ok, err = d.primary.GetLatest(ctx, node)
		return err
	}) {
		return b, ok, nil
	}
	return d.local.GetLatest(ctx, node)
}
