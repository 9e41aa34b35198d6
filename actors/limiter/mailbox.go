package limiter

import (
	"maps"
	"slices"
	"sync/atomic"
)

// depth counts the messages waiting in one device's mailbox: protoactor
// calls MessagePosted from the senders' goroutines and MessageReceived from
// the mailbox's, so the count is atomic. It costs 8 bytes per device and
// no lock.
type depth struct{ n atomic.Int64 }

func (d *depth) MailboxStarted()     {}
func (d *depth) MessagePosted(any)   { d.n.Add(1) }
func (d *depth) MessageReceived(any) { d.n.Add(-1) }
func (d *depth) MailboxEmpty()       {}
func (d *depth) load() int64         { return max(0, d.n.Load()) }

// depthHistogram counts devices by mailbox depth. Depths are small and
// mostly 0, so a map of a few keys replaces sorting one figure per device
// (100,000 of them) inside the limiter's Receive on every stats request.
type depthHistogram struct {
	counts map[int64]int
	n      int
}

func (h *depthHistogram) add(d int64) {
	if h.counts == nil {
		h.counts = map[int64]int{}
	}
	h.counts[d]++
	h.n++
}

// maxAndP99 returns the largest depth and the 99th percentile (nearest
// rank).
func (h *depthHistogram) maxAndP99() (maxDepth, p99 int64) {
	if h.n == 0 {
		return 0, 0
	}
	depths := slices.Sorted(maps.Keys(h.counts))
	rank, seen := (h.n*99+99)/100, 0 // ceil(0.99·n)
	for _, d := range depths {
		if seen += h.counts[d]; seen >= rank {
			return depths[len(depths)-1], d
		}
	}
	return depths[len(depths)-1], depths[len(depths)-1]
}
