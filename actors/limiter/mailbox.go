package limiter

import (
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

// maxAndP99 returns the largest depth and the 99th percentile (nearest
// rank) of depths, which it sorts.
func maxAndP99(depths []int64) (maxDepth, p99 int64) {
	if len(depths) == 0 {
		return 0, 0
	}
	slices.Sort(depths)
	rank := (len(depths)*99 + 99) / 100 // ceil(0.99·n)
	return depths[len(depths)-1], depths[rank-1]
}
