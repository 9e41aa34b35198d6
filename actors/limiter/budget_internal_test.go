package limiter

import (
	"testing"
	"time"

	"github.com/evaratech/evara/actors/device"
)

func TestWindowCapsTheTrailingSecond(t *testing.T) {
	var w window
	t0 := time.Unix(1000, 0)
	for i := range 5 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		if wait := w.wait(now, 5); wait != 0 {
			t.Fatalf("grant %d: wait %v with room", i, wait)
		}
		w.add(now)
	}
	// Five within 400 ms: the sixth waits until the first is a second old.
	if wait := w.wait(t0.Add(450*time.Millisecond), 5); wait != 550*time.Millisecond {
		t.Errorf("wait = %v, want 550ms", wait)
	}
	if wait := w.wait(t0.Add(time.Second), 5); wait != 0 {
		t.Errorf("a second later: wait = %v, want 0", wait)
	}
	for i := range 1000 { // many grants over time: the live part stays small
		w.add(t0.Add(2*time.Second + time.Duration(i)*10*time.Millisecond))
		w.trim(t0.Add(2*time.Second + time.Duration(i)*10*time.Millisecond))
	}
	if live := len(w.times) - w.head; live > 101 {
		t.Errorf("%d grants kept for a one-second window at 100/s", live)
	}
}

func TestOutcomesCountTheLastMinute(t *testing.T) {
	var o outcomes
	t0 := time.Unix(2000, 0)
	o.add(t0, &device.FetchOutcome{OK: true})
	o.add(t0.Add(10*time.Second), &device.FetchOutcome{RateLimited: true})
	o.add(t0.Add(30*time.Second), &device.FetchOutcome{})
	if ok, failed, limited := o.lastMinute(t0.Add(40 * time.Second)); ok != 1 || failed != 1 || limited != 1 {
		t.Errorf("at +40 s: ok %d failed %d 429 %d, want 1 1 1", ok, failed, limited)
	}
	if ok, failed, limited := o.lastMinute(t0.Add(65 * time.Second)); ok != 0 || failed != 1 || limited != 1 {
		t.Errorf("at +65 s: ok %d failed %d 429 %d, want 0 1 1 (the success is 65 s old)", ok, failed, limited)
	}
	if o.ok != 1 || o.failed != 1 || o.limited != 1 {
		t.Errorf("totals %d %d %d", o.ok, o.failed, o.limited)
	}
}

// TestSlotsSpreadEveryPrefixEvenly: the phases the limiter hands out keep
// every second of a 60 s interval within ±5 % of the mean for 6,000 and
// for 2,000 devices (a member of three), and a stopped device's slot is
// the next one handed out.
func TestSlotsSpreadEveryPrefixEvenly(t *testing.T) {
	for _, n := range []int{2000, 6000} {
		var s slots
		counts := make([]int, 60)
		for range n {
			_, ph := s.take(time.Minute)
			counts[int(ph/time.Second)]++
		}
		mean := float64(n) / 60
		for sec, c := range counts {
			if dev := (float64(c) - mean) / mean; dev > 0.05 || dev < -0.05 {
				t.Errorf("%d devices: second %d holds %d polls, mean %.1f", n, sec, c, mean)
			}
		}
	}
	var s slots
	for range 10 {
		s.take(time.Minute)
	}
	s.give(time.Minute, 3)
	s.give(time.Minute, 7)
	if k, _ := s.take(time.Minute); k != 3 {
		t.Errorf("took slot %d, want the freed 3", k)
	}
	if k, _ := s.take(30 * time.Second); k != 0 {
		t.Errorf("another interval starts at slot %d, want 0", k)
	}
}

func TestMailboxDepthPercentiles(t *testing.T) {
	if m, p := maxAndP99(nil); m != 0 || p != 0 {
		t.Errorf("no devices: max %d p99 %d", m, p)
	}
	depths := make([]int64, 985, 1000)
	for range 10 {
		depths = append(depths, 3)
	}
	depths = append(depths, 9, 41, 7, 40, 7)
	// 1000 devices: the 990th smallest depth is 3, the largest 41.
	if m, p := maxAndP99(depths); m != 41 || p != 3 {
		t.Errorf("max %d p99 %d, want 41 and 3", m, p)
	}
}
