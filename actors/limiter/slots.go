package limiter

import (
	"container/heap"
	"time"
)

// slots hands out the devices' phases within their interval. The k-th
// device of an interval polls at vdc(k)·interval, where vdc is the base-2
// van der Corput sequence (0, ½, ¼, ¾, ⅛, …): every prefix of it is spread
// almost perfectly evenly, so N devices make N/interval requests in every
// second give or take a few — 6,000 devices at 60 s stay within ±2 % of
// 100/s — where phases hashed from ids are random and a second can see
// ±25 %. A stopped device's k is reused first, so the set stays a prefix.
// Devices of one interval share a sequence; members each run their own,
// and the sum of evenly spread sets is evenly spread.
type slots struct {
	byInterval map[time.Duration]*slotSet
}

type slotSet struct {
	next int    // the lowest k never handed out
	free freeKs // ks handed back, smallest first
	used int    // handed out and not back
}

func (s *slots) take(interval time.Duration) (k int, phase time.Duration) {
	if s.byInterval == nil {
		s.byInterval = map[time.Duration]*slotSet{}
	}
	set := s.byInterval[interval]
	if set == nil {
		set = &slotSet{}
		s.byInterval[interval] = set
	}
	if set.free.Len() > 0 {
		k = heap.Pop(&set.free).(int)
	} else {
		k = set.next
		set.next++
	}
	set.used++
	return k, time.Duration(vdc(k) * float64(interval))
}

func (s *slots) give(interval time.Duration, k int) {
	set := s.byInterval[interval]
	if set == nil {
		return
	}
	set.used--
	if set.used == 0 { // all gone: start the sequence afresh
		delete(s.byInterval, interval)
		return
	}
	heap.Push(&set.free, k)
}

// vdc is the base-2 radical inverse of k: its binary digits mirrored
// around the point, a number in [0, 1).
func vdc(k int) float64 {
	x, d := 0.0, 0.5
	for ; k > 0; k >>= 1 {
		if k&1 == 1 {
			x += d
		}
		d /= 2
	}
	return x
}

// freeKs is a min-heap of ks (container/heap).
type freeKs []int

func (h freeKs) Len() int           { return len(h) }
func (h freeKs) Less(i, j int) bool { return h[i] < h[j] }
func (h freeKs) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *freeKs) Push(x any)        { *h = append(*h, x.(int)) }
func (h *freeKs) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
