package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// The stored-telemetry routes: a node's readings as the store holds them,
// in ThingSpeak's shapes, so the dashboard and browsers never need a
// channel key and never cost an upstream call.
func (s *Server) telemetryRoutes() {
	s.handle(fiber.MethodGet, "/devices/:id/telemetry/latest", PermNodeRead, "a node's newest stored reading", s.getLatestTelemetry)
	s.handle(fiber.MethodGet, "/devices/:id/telemetry/history", PermNodeRead,
		"a node's stored readings, ThingSpeak-shaped (?results=1..8000, ?minutes=)", s.getFeeds)
	s.handle(fiber.MethodGet, "/nodes/:id/feeds.json", PermNodeRead,
		"ThingSpeak-compatible feed of a node, from the store (?results=1..8000, ?minutes=)", s.getFeeds)
}

// Bounds of a feed request, ThingSpeak's own.
const (
	defaultFeedResults = 100
	maxFeedResults     = 8000
	maxFeedMinutes     = 366 * 24 * 60
)

// latestJSON is a node's newest reading; both fields are null until the
// node has one, so "no reading yet" is an answer, not an error.
type latestJSON struct {
	Timestamp *time.Time     `json:"timestamp"`
	Data      map[string]any `json:"data"` // entry_id, field1..field8 (numbers, null when absent)
}

func (s *Server) getLatestTelemetry(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	n, err := s.cachedNode(ctx, scopeOf(c), param(c, "id"))
	if err != nil {
		return err
	}
	r, err := s.store.LatestReading(ctx, n.ID)
	if errors.Is(err, telemetry.ErrNotFound) {
		return c.JSON(latestJSON{})
	} else if err != nil {
		return err
	}
	data := map[string]any{"entry_id": r.EntryID}
	for i := 1; i <= telemetry.FieldCount; i++ {
		var value *float64
		if v, ok := r.Field(i); ok {
			value = &v
		}
		data["field"+strconv.Itoa(i)] = value
	}
	ts := r.CreatedAt.UTC()
	return c.JSON(latestJSON{Timestamp: &ts, Data: data})
}

// feedJSON is ThingSpeak's feeds.json: the channel and its entries, field
// values as strings (null when absent), oldest first.
type feedJSON struct {
	Channel feedChannelJSON  `json:"channel"`
	Feeds   []map[string]any `json:"feeds"` // created_at, entry_id, field1..field8
}

// feedChannelJSON is ThingSpeak's channel header; fieldN is the name the
// node's field mapping gives field N, absent when unmapped.
type feedChannelJSON struct {
	ID          *int64    `json:"id"` // the ThingSpeak channel; null when the node has none
	Name        string    `json:"name"`
	Description *string   `json:"description"` // the node's location name
	Latitude    *string   `json:"latitude"`
	Longitude   *string   `json:"longitude"`
	Field1      string    `json:"field1,omitempty"`
	Field2      string    `json:"field2,omitempty"`
	Field3      string    `json:"field3,omitempty"`
	Field4      string    `json:"field4,omitempty"`
	Field5      string    `json:"field5,omitempty"`
	Field6      string    `json:"field6,omitempty"`
	Field7      string    `json:"field7,omitempty"`
	Field8      string    `json:"field8,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	LastEntryID *int64    `json:"last_entry_id"` // null until the node has a reading
}

// getFeeds serves a node's stored readings in ThingSpeak's feeds.json
// shape: the newest ?results= (default 100, at most 8000), within the last
// ?minutes= when given.
func (s *Server) getFeeds(c *fiber.Ctx) error {
	results, err := queryInt(c, "results", defaultFeedResults, 1, maxFeedResults)
	if err != nil {
		return err
	}
	minutes, err := queryInt(c, "minutes", 0, 1, maxFeedMinutes)
	if err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	n, err := s.cachedNode(ctx, scopeOf(c), param(c, "id"))
	if err != nil {
		return err
	}
	q := telemetry.ReadingQuery{Limit: results}
	if minutes > 0 {
		q.Since = s.now().Add(-time.Duration(minutes) * time.Minute)
	}
	readings, err := s.store.Readings(ctx, n.ID, q)
	if err != nil {
		return err
	}
	out := feedJSON{Channel: feedChannel(n), Feeds: make([]map[string]any, 0, len(readings))}
	for _, r := range readings {
		entry := map[string]any{"created_at": r.CreatedAt.UTC(), "entry_id": r.EntryID}
		for i := 1; i <= telemetry.FieldCount; i++ {
			var value *string
			if v, ok := r.Field(i); ok {
				text := strconv.FormatFloat(v, 'f', -1, 64)
				value = &text
			}
			entry["field"+strconv.Itoa(i)] = value
		}
		out.Feeds = append(out.Feeds, entry)
	}
	if last := lastEntryID(n, readings); last > 0 {
		out.Channel.LastEntryID = &last
	}
	return c.JSON(out)
}

func feedChannel(n telemetry.Node) feedChannelJSON {
	ch := feedChannelJSON{Name: n.Label, Description: n.LocationName, Latitude: coordinate(n.Lat), Longitude: coordinate(n.Lng),
		CreatedAt: n.CreatedAt.UTC(), UpdatedAt: n.UpdatedAt.UTC()}
	if n.ChannelID > 0 {
		id := int64(n.ChannelID)
		ch.ID = &id
	}
	m := n.FieldMapping
	ch.Field1, ch.Field2, ch.Field3, ch.Field4 = m["field1"], m["field2"], m["field3"], m["field4"]
	ch.Field5, ch.Field6, ch.Field7, ch.Field8 = m["field5"], m["field6"], m["field7"], m["field8"]
	return ch
}

// lastEntryID is the node's newest stored entry: the runtime's resume
// point, or the newest reading served if the writer got there first.
func lastEntryID(n telemetry.Node, readings []telemetry.Reading) int64 {
	last := n.LastEntryID
	if len(readings) > 0 {
		last = max(last, readings[len(readings)-1].EntryID)
	}
	return last
}

// coordinate is a position as ThingSpeak writes it (a decimal string).
func coordinate(v *float64) *string {
	if v == nil {
		return nil
	}
	s := strconv.FormatFloat(*v, 'f', -1, 64)
	return &s
}
