package ws

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of the server's connections and traffic. Counters
// count since New.
type Stats struct {
	Connections   int               `json:"connections"`
	Subscriptions SubscriptionStats `json:"subscriptions"`
	MessagesIn    uint64            `json:"messages_in"`
	MessagesOut   uint64            `json:"messages_out"`
	Batches       uint64            `json:"batches"`
	Dropped       uint64            `json:"dropped"` // events replaced by a newer one before they were sent
	SlowCloses    uint64            `json:"slow_closes"`
}

// SubscriptionStats counts the open subscriptions by topic kind.
type SubscriptionStats struct {
	Node      int `json:"node"`
	Community int `json:"community"`
	Alerts    int `json:"alerts"`
}

type counters struct {
	connections atomic.Int64
	topics      [topicKinds]atomic.Int64
	in, out     atomic.Uint64
	batches     atomic.Uint64
	dropped     atomic.Uint64
	slowCloses  atomic.Uint64
}

// Stats reports the server's connections and counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Connections: int(c.connections.Load()),
		Subscriptions: SubscriptionStats{
			Node:      int(c.topics[topicNode].Load()),
			Community: int(c.topics[topicCommunity].Load()),
			Alerts:    int(c.topics[topicAlerts].Load()),
		},
		MessagesIn:  c.in.Load(),
		MessagesOut: c.out.Load(),
		Batches:     c.batches.Load(),
		Dropped:     c.dropped.Load(),
		SlowCloses:  c.slowCloses.Load(),
	}
}

// register exposes the counters to Prometheus as functions of them, so
// there is one source of truth. A second Server on the same registry keeps
// the first one's series (tests); any other error is a programming error.
// The number of open connections is the member's evara_ws_sessions,
// exported with the cluster's figures.
func (s *Server) register(reg prometheus.Registerer) {
	c := &s.stats
	load := func(v *atomic.Uint64) func() float64 { return func() float64 { return float64(v.Load()) } }
	for _, col := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "evara_ws_messages_total", Help: "WebSocket messages, by direction.",
			ConstLabels: prometheus.Labels{"direction": "in"}}, load(&c.in)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "evara_ws_messages_total", Help: "WebSocket messages, by direction.",
			ConstLabels: prometheus.Labels{"direction": "out"}}, load(&c.out)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "evara_ws_batches_total", Help: "BATCH_STATUS_UPDATE messages sent."}, load(&c.batches)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "evara_ws_dropped_total", Help: "Events replaced by a newer one of the same node before they were sent."}, load(&c.dropped)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "evara_ws_slow_closes_total", Help: "Connections closed as slow consumers (4008)."}, load(&c.slowCloses)),
	} {
		if err := reg.Register(col); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(fmt.Sprintf("ws: registering metrics: %v", err))
			}
		}
	}
}
