package device

import (
	"hash/fnv"
	"strconv"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// metrics applies a node's field mapping ({"field1": "water_level"}) to an
// entry: every field holding a number appears once, under its alias or,
// when unmapped, under its ThingSpeak name ("field3"). Fields without a
// number are left out. The map is built once per entry and never changed.
func metrics(mapping map[string]string, e telemetry.Entry) map[string]float64 {
	out := make(map[string]float64, telemetry.FieldCount)
	for n := 1; n <= telemetry.FieldCount; n++ {
		v, ok := e.Field(n)
		if !ok {
			continue
		}
		name := "field" + strconv.Itoa(n)
		if alias := mapping[name]; alias != "" {
			name = alias
		}
		out[name] = v
	}
	return out
}

// phase is where in each interval a node polls: a hash of its id, so that
// N devices spread evenly over the interval whatever their start times —
// no burst at start-up or after a failover.
func phase(id telemetry.NodeID, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id)) // a hash.Hash never fails
	return time.Duration(h.Sum64() % uint64(interval))
}

// firstDelay is how long after now the first poll is due: the next moment
// whose offset within the interval (counted from the Unix epoch) is ph.
func firstDelay(now time.Time, ph, interval time.Duration) time.Duration {
	pos := time.Duration(uint64(now.UnixNano()) % uint64(interval))
	d := ph%interval - pos
	if d < 0 {
		d += interval
	}
	return d
}

// readings turns fetched entries into the writer's rows for node.
func readings(node telemetry.NodeID, entries []telemetry.Entry) []telemetry.Reading {
	out := make([]telemetry.Reading, len(entries))
	for i, e := range entries {
		out[i] = telemetry.Reading{Node: node, Entry: e}
	}
	return out
}
