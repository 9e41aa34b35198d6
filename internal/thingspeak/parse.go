package thingspeak

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Channel is the channel header of a feed response.
type Channel struct {
	ID          telemetry.ChannelID
	Name        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	LastEntryID int64
	// FieldNames holds the names the channel gives field1..field8 ("" when unset).
	FieldNames [telemetry.FieldCount]string
}

// Feed is a parsed feeds.json response: the channel header and its entries
// in ascending entry_id order, as ThingSpeak sends them.
type Feed struct {
	Channel Channel
	Entries []telemetry.Entry
}

// ParseFeed parses a feeds.json body. Field values that are absent, null,
// empty or not a finite number become invalid fields; anything that is not
// the feed's JSON shape is an error.
func ParseFeed(body []byte) (Feed, error) {
	var w wireFeed
	if err := unmarshalJSON(body, &w); err != nil {
		return Feed{}, err
	}
	feed := Feed{Channel: w.Channel.channel(), Entries: make([]telemetry.Entry, len(w.Feeds))}
	for i := range w.Feeds {
		feed.Entries[i] = w.Feeds[i].entry()
	}
	return feed, nil
}

// ParseEntry parses a single entry object, the body of feeds/last.json.
func ParseEntry(body []byte) (telemetry.Entry, error) {
	var w wireEntry
	if err := unmarshalJSON(body, &w); err != nil {
		return telemetry.Entry{}, err
	}
	return w.entry(), nil
}

// unmarshalJSON rejects a body that is not exactly one JSON value, which is
// how a body cut off mid-way (or followed by garbage) is recognised.
func unmarshalJSON(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || (body[0] != '{' && body[0] != '[') {
		return errNotJSONObject
	}
	return json.Unmarshal(body, v)
}

var errNotJSONObject = errors.New("body is not a JSON object")

type wireFeed struct {
	Channel wireChannel `json:"channel"`
	Feeds   []wireEntry `json:"feeds"`
}

type wireChannel struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	LastEntryID int64     `json:"last_entry_id"`
	Field1      string    `json:"field1"`
	Field2      string    `json:"field2"`
	Field3      string    `json:"field3"`
	Field4      string    `json:"field4"`
	Field5      string    `json:"field5"`
	Field6      string    `json:"field6"`
	Field7      string    `json:"field7"`
	Field8      string    `json:"field8"`
}

func (w *wireChannel) channel() Channel {
	return Channel{
		ID:          telemetry.ChannelID(w.ID),
		Name:        w.Name,
		CreatedAt:   w.CreatedAt.UTC(),
		UpdatedAt:   w.UpdatedAt.UTC(),
		LastEntryID: w.LastEntryID,
		FieldNames:  [telemetry.FieldCount]string{w.Field1, w.Field2, w.Field3, w.Field4, w.Field5, w.Field6, w.Field7, w.Field8},
	}
}

type wireEntry struct {
	CreatedAt time.Time `json:"created_at"`
	EntryID   int64     `json:"entry_id"`
	Field1    field     `json:"field1"`
	Field2    field     `json:"field2"`
	Field3    field     `json:"field3"`
	Field4    field     `json:"field4"`
	Field5    field     `json:"field5"`
	Field6    field     `json:"field6"`
	Field7    field     `json:"field7"`
	Field8    field     `json:"field8"`
}

func (w *wireEntry) entry() telemetry.Entry {
	return telemetry.Entry{
		EntryID:   w.EntryID,
		CreatedAt: w.CreatedAt.UTC(),
		Fields: [telemetry.FieldCount]telemetry.Field{
			telemetry.Field(w.Field1), telemetry.Field(w.Field2), telemetry.Field(w.Field3), telemetry.Field(w.Field4),
			telemetry.Field(w.Field5), telemetry.Field(w.Field6), telemetry.Field(w.Field7), telemetry.Field(w.Field8),
		},
	}
}

// field decodes one ThingSpeak field value. ThingSpeak sends strings; bare
// JSON numbers are accepted too. Anything that is not a finite number
// (null, "", "abc", "NaN", true, an object) decodes to an invalid field
// rather than failing the whole feed: one bad sensor value must not hide
// the channel's other readings.
type field telemetry.Field

func (f *field) UnmarshalJSON(b []byte) error {
	*f = field{}
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		s := b[1 : len(b)-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			var str string
			if err := json.Unmarshal(b, &str); err != nil {
				return nil //nolint:nilerr // an undecodable string is an invalid value, not a broken feed
			}
			s = []byte(str)
		}
		f.set(bytes.TrimSpace(s))
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		f.set(b)
	}
	return nil
}

func (f *field) set(s []byte) {
	if len(s) == 0 {
		return
	}
	v, err := strconv.ParseFloat(string(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	*f = field{Value: v, Valid: true}
}
