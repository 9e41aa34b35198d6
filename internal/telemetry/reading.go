package telemetry

import (
	"strconv"
	"time"
)

// FieldCount is the number of data fields a ThingSpeak channel carries.
const FieldCount = 8

// ChannelID identifies a ThingSpeak channel.
type ChannelID int64

// String returns the decimal form used in ThingSpeak URLs.
func (c ChannelID) String() string { return strconv.FormatInt(int64(c), 10) }

// Field is one numeric channel field. Valid is false when ThingSpeak sent no
// value, null, an empty string or text that is not a number.
type Field struct {
	Value float64
	Valid bool
}

// Entry is one ThingSpeak feed entry with its fields parsed to numbers.
type Entry struct {
	EntryID   int64
	CreatedAt time.Time // UTC, as ThingSpeak reports it
	Fields    [FieldCount]Field
}

// Field returns field n (1-based, as ThingSpeak names them: field1..field8).
// It reports false when n is out of range or the field holds no number.
func (e Entry) Field(n int) (float64, bool) {
	if n < 1 || n > FieldCount {
		return 0, false
	}
	f := e.Fields[n-1]
	return f.Value, f.Valid
}

// NodeID identifies a node (a device) in Evara's store: a UUID in text form.
type NodeID string

// Reading is one entry of a node's channel, as stored: the node it belongs
// to and the entry with its fields parsed.
type Reading struct {
	Node NodeID
	Entry
}

// ReadingQuery selects stored readings of one node.
type ReadingQuery struct {
	AfterEntryID int64     // only entries after this one
	Since, Until time.Time // created_at bounds (zero: open)
	Limit        int       // the newest Limit (0: no limit)
}
