package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device/alerting"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
)

// SPEC §4 figures.
const (
	// DefaultInterval is the poll interval of a node without its own.
	DefaultInterval = 60 * time.Second
	// BreakerThreshold is the number of consecutive failures that opens the breaker.
	BreakerThreshold = 5
	// BreakerCooldown is how long an open breaker keeps upstream calls off
	// before one half-open probe.
	BreakerCooldown = 60 * time.Second
	// OfflineAfterFailures consecutive failures make a device Offline.
	OfflineAfterFailures = 3
	// OfflineAfterIntervals without a new entry make a device Offline.
	OfflineAfterIntervals = 3
	// CatchUpWindow is how soon a device taken over from a member that
	// left polls for the first time (Config.CatchUp), spread by its phase.
	CatchUpWindow = 3 * time.Second
	// DefaultSubscriberCheck is how often, by default, a device drops the
	// local subscribers gone without unsubscribing (Config.SubscriberCheck).
	DefaultSubscriberCheck = time.Minute
)

const (
	storeTimeout = 10 * time.Second // one LatestReading or SetNodeStatus call
	writeTimeout = 10 * time.Second // the writer's answer to a Write
	writeRetry   = time.Second      // resend after the writer did not answer
)

// Fetcher reads the entries of a channel after a known entry id;
// *thingspeak.Client is one.
type Fetcher interface {
	After(ctx context.Context, channel telemetry.ChannelID, readKey string, afterEntryID int64, expected int) (thingspeak.Page, error)
}

// Keys opens sealed credentials; *keyring.Keyring is one.
type Keys interface {
	Open(keyID string, ciphertext, aad []byte) ([]byte, error)
}

// Store is what a device needs from persistence. Both calls run off the
// mailbox with a timeout.
type Store interface {
	// LatestReading returns the node's newest stored reading, or an error
	// wrapping telemetry.ErrNotFound when it has none.
	LatestReading(ctx context.Context, node telemetry.NodeID) (telemetry.Reading, error)
	// SetNodeStatus records the node's status and, when not nil, when it
	// was last seen (the created_at of its newest entry).
	SetNodeStatus(ctx context.Context, id telemetry.NodeID, status telemetry.Status, lastSeen *time.Time) error
}

// Config is everything one device actor needs. Node, Fetcher, Keys, Store
// and Writer are required; the rest have defaults.
type Config struct {
	Node            telemetry.Node   // must have a channel and a sealed read key
	DefaultInterval time.Duration    // when Node.PollInterval is nil; default DefaultInterval
	Fetcher         Fetcher          // the upstream
	Keys            Keys             // opens Node.ChannelKey (associated data: the node id)
	Store           Store            // warm-up reading and status persistence
	Writer          *actor.PID       // the writer actor (package writer)
	Logger          *slog.Logger     // default: discard
	Now             func() time.Time // default time.Now; decides phases, staleness and the breaker's cooldown
	// Alerts keeps the node's alert state: with it the device evaluates the
	// node's rules, anomalies and connectivity and honours its maintenance
	// windows (package alerting); nil: it raises no alerts.
	Alerts AlertStore
	// Anomaly tunes the engine's anomaly detection (its Anomaly* fields and
	// NoAnomalies; the rest is the device's own). Zero: issue 7's defaults.
	Anomaly alerting.Options
	// Notify hears of the alerts the device opened and resolved and of its
	// node going offline and coming back; nil: nobody.
	Notify Notifier
	// CatchUp makes the first poll fall within CatchUpWindow instead of at
	// the node's phase: set for a device taken over from a member that left.
	CatchUp bool
	// Phase is where in each interval the device polls (counted from the
	// Unix epoch, so that it holds across restarts and members); the
	// limiter assigns one so that its devices spread evenly. nil: a hash
	// of the node id.
	Phase *time.Duration
	// SubscriberCheck is the least time between two checks of the
	// device's local subscribers against the actor system's process
	// registry, which drop those gone without unsubscribing (local
	// subscribers are not watched). The checks run on the poll ticks, so
	// they are an interval apart at least: with the defaults, a minute.
	// Default DefaultSubscriberCheck.
	SubscriberCheck time.Duration
}

// Validate reports what makes the configuration unusable.
func (c Config) Validate() error {
	var errs []error
	if c.Node.ID == "" {
		errs = append(errs, errors.New("node has no id"))
	}
	if c.Node.ChannelID <= 0 {
		errs = append(errs, errors.New("node has no ThingSpeak channel"))
	}
	if !c.Node.ChannelKey.IsSet() {
		errs = append(errs, errors.New("node has no read key"))
	}
	if c.Fetcher == nil || c.Keys == nil || c.Store == nil || c.Writer == nil {
		errs = append(errs, errors.New("fetcher, keys, store and writer are required"))
	}
	if c.Node.PollInterval != nil && *c.Node.PollInterval <= 0 {
		errs = append(errs, errors.New("poll interval must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("device %s: %w: %w", c.Node.ID, telemetry.ErrInvalid, err)
	}
	return nil
}

// Interval is the node's poll interval: its own, or the default.
func (c Config) Interval() time.Duration {
	if c.Node.PollInterval != nil && *c.Node.PollInterval > 0 {
		return *c.Node.PollInterval
	}
	if c.DefaultInterval > 0 {
		return c.DefaultInterval
	}
	return DefaultInterval
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SubscriberCheck <= 0 {
		c.SubscriberCheck = DefaultSubscriberCheck
	}
	return c
}

// Props returns the props of the device actor for cfg. Spawn it as a child
// of the limiter, which answers its PermitRequests and supervises it; the
// configuration should have passed Validate.
func Props(cfg Config) *actor.Props {
	cfg = cfg.withDefaults()
	carry := &carryOver{}
	return actor.PropsFromProducer(func() actor.Actor { return newDevice(&cfg, carry) })
}

// carryOver is what one incarnation of a device leaves to the next when its
// supervisor restarts it after a crash, so that the new one neither fetches
// again what is already stored nor persists a status that already is.
type carryOver struct {
	mu     sync.Mutex
	stored int64
	status telemetry.Status // connectivity
	saved  telemetry.Status // the shown status persisted
}

func (c *carryOver) load() (stored int64, status, saved telemetry.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stored, c.status, c.saved
}

func (c *carryOver) setStored(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stored = max(c.stored, id)
}

func (c *carryOver) setStatus(connectivity, saved telemetry.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status, c.saved = connectivity, saved
}
