package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Override changes one field of a channel's entries whose created_at lies in
// [From, Until). It sets the field to Value (nil Value and nil Offset: null)
// or shifts the field's own number by Offset; Value and Offset exclude each
// other. Fields the channel's kind does not use may be set too: they then
// appear in the entries. An override applies to every entry in its window,
// past entries included, from the moment it is in force until it is removed.
type Override struct {
	Channel telemetry.ChannelID
	// Field is the field number, 1..8.
	Field int
	// Value replaces the field; it is served with as many decimals as it needs.
	Value *float64
	// Offset is added to the field's number, which keeps the field's usual
	// decimals; a field that is null, "" or unused stays as it is.
	Offset *float64
	// From is the first created_at affected (zero: since the first entry);
	// Until the first one no longer affected (zero: open-ended).
	From, Until time.Time
}

func (o Override) validate() error {
	var errs []error
	if o.Field < 1 || o.Field > telemetry.FieldCount {
		errs = append(errs, fmt.Errorf("field %d: must be within 1..%d", o.Field, telemetry.FieldCount))
	}
	if o.Value != nil && o.Offset != nil {
		errs = append(errs, errors.New("give a value or an offset, not both"))
	}
	if o.Value != nil && (math.IsNaN(*o.Value) || math.IsInf(*o.Value, 0)) {
		errs = append(errs, fmt.Errorf("value %v: must be a finite number", *o.Value))
	}
	if o.Offset != nil && (math.IsNaN(*o.Offset) || math.IsInf(*o.Offset, 0)) {
		errs = append(errs, fmt.Errorf("offset %v: must be a finite number", *o.Offset))
	}
	if !o.Until.IsZero() && !o.Until.After(o.From) {
		errs = append(errs, fmt.Errorf("until %v: must be after from %v", o.Until.Format(time.RFC3339Nano), o.From.Format(time.RFC3339Nano)))
	}
	return errors.Join(errs...)
}

// clone copies the override so that neither the caller nor the simulator
// sees the other's later writes through Value or Offset.
func (o Override) clone() Override {
	if o.Value != nil {
		v := *o.Value
		o.Value = &v
	}
	if o.Offset != nil {
		v := *o.Offset
		o.Offset = &v
	}
	return o
}

func cloneOverrides(list []Override) []Override {
	out := make([]Override, len(list))
	for i, o := range list {
		out[i] = o.clone()
	}
	return out
}

// SetOverrides replaces all overrides at once for every later request; a
// later override in the list wins over an earlier one where both cover an
// entry's field. A list naming an unknown channel or holding invalid values
// is rejected (wrapping telemetry.ErrInvalid) and the previous one stays in
// force. SetOverrides(nil) removes them all.
func (s *Simulator) SetOverrides(list []Override) error {
	if err := s.validateOverrides(list, 0); err != nil {
		return err
	}
	s.overridesMu.Lock()
	defer s.overridesMu.Unlock()
	s.overrides.Store(newOverrideState(cloneOverrides(list)))
	return nil
}

// AddOverride adds an override that wins over all those already in force.
func (s *Simulator) AddOverride(o Override) error {
	s.overridesMu.Lock()
	defer s.overridesMu.Unlock()
	old := s.overrides.Load().list
	if err := s.validateOverrides([]Override{o}, len(old)); err != nil {
		return err
	}
	list := make([]Override, len(old), len(old)+1)
	copy(list, old) // the old state's own copies, never written again: shared safely
	s.overrides.Store(newOverrideState(append(list, o.clone())))
	return nil
}

// Overrides returns a copy of the overrides in force, oldest first (the last
// one wins where several cover an entry).
func (s *Simulator) Overrides() []Override { return cloneOverrides(s.overrides.Load().list) }

// validateOverrides checks list, whose first element would be overrides[first].
func (s *Simulator) validateOverrides(list []Override, first int) error {
	var errs []error
	for i, o := range list {
		err := o.validate()
		if s.channel(o.Channel) == nil {
			err = errors.Join(fmt.Errorf("channel %d: no such channel", o.Channel), err)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("overrides[%d]: %w", first+i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: overrides: %w: %w", telemetry.ErrInvalid, err)
	}
	return nil
}

// overrideState is an applied override list, immutable once stored, so
// requests read it with one atomic load and no lock.
type overrideState struct {
	list      []Override
	byChannel map[telemetry.ChannelID][]overrideRule // nil when list is empty
}

// overrideRule is an Override ready for the request path.
type overrideRule struct {
	field       int   // 0-based
	from, until int64 // created_at bounds in ns: from ≤ t < until
	offset      bool  // shift the number by delta instead of replacing it by val
	delta       float64
	val         value
}

func newOverrideState(list []Override) *overrideState {
	st := &overrideState{list: list}
	if len(list) == 0 {
		return st
	}
	st.byChannel = make(map[telemetry.ChannelID][]overrideRule)
	for _, o := range slices.Backward(list) { // newest first: the first match wins
		r := overrideRule{field: o.Field - 1, from: unixNano(o.From), until: math.MaxInt64}
		if !o.Until.IsZero() {
			r.until = unixNano(o.Until)
		}
		switch {
		case o.Offset != nil:
			r.offset, r.delta = true, *o.Offset
		case o.Value != nil:
			r.val = num(*o.Value, -1) // the shortest text that parses back to the value
		default:
			r.val = value{kind: fieldNull}
		}
		st.byChannel[o.Channel] = append(st.byChannel[o.Channel], r)
	}
	return st
}

// overrideRules returns the channel's rules, newest first; nil (after one atomic
// load) when no override is in force.
func (s *Simulator) overrideRules(id telemetry.ChannelID) []overrideRule {
	st := s.overrides.Load()
	if st.byChannel == nil {
		return nil
	}
	return st.byChannel[id]
}

// applyOverrides changes the values of an entry created at unix second sec.
func applyOverrides(vals *[telemetry.FieldCount]value, rules []overrideRule, sec int64) {
	t := sec * nsPerSec // |sec| < satNs/nsPerSec: created_at stays within the clamped range
	var done uint8      // fields already decided by a newer rule
	for i := range rules {
		r := &rules[i]
		if done&(1<<r.field) != 0 || t < r.from || t >= r.until {
			continue
		}
		done |= 1 << r.field
		switch v := &vals[r.field]; {
		case !r.offset:
			*v = r.val
		case v.kind == fieldNumber:
			*v = num(v.v+r.delta, v.dec)
		}
	}
}

// The JSON form of an override list (GET, POST /_sim/overrides):
//
//	{"overrides":[{"channel":2000001,"field":1,"value":950,"from":"-5s","until":"+30s"},
//	  {"channel":2000001,"field":3,"value":null,"from":"2026-03-01T10:00:00Z"},
//	  {"channel":2000002,"field":2,"offset":-1.5}]}
//
// from and until are RFC 3339 times or durations relative to the moment the
// list is applied; an absent from reaches back to the first entry and an
// absent until never ends. value is a number or null; offset a number.
type overridesJSON struct {
	Overrides []overrideJSON `json:"overrides"`
}

type overrideJSON struct {
	Channel telemetry.ChannelID `json:"channel"`
	Field   int                 `json:"field"`
	Value   json.RawMessage     `json:"value,omitempty"` // nil: absent; "null": null
	Offset  *float64            `json:"offset,omitempty"`
	From    string              `json:"from,omitempty"`
	Until   string              `json:"until,omitempty"`
}

// marshalOverrides writes the documented JSON form, with absolute times.
func marshalOverrides(list []Override) overridesJSON {
	out := overridesJSON{Overrides: make([]overrideJSON, 0, len(list))}
	for _, o := range list {
		j := overrideJSON{Channel: o.Channel, Field: o.Field, Offset: o.Offset}
		switch {
		case o.Value != nil:
			j.Value, _ = json.Marshal(*o.Value) // finite: validated
		case o.Offset == nil:
			j.Value = json.RawMessage("null")
		}
		if !o.From.IsZero() {
			j.From = o.From.Format(time.RFC3339Nano)
		}
		if !o.Until.IsZero() {
			j.Until = o.Until.Format(time.RFC3339Nano)
		}
		out.Overrides = append(out.Overrides, j)
	}
	return out
}

// ParseOverrides parses the JSON form of an override list strictly: unknown
// fields, trailing data and malformed values are errors. Relative times are
// resolved against time.Now; the simulator's own POST handler uses its clock
// (ParseOverridesAt). Values are validated as SetOverrides does, except that
// channel ids are not checked against a simulator.
func ParseOverrides(data []byte) ([]Override, error) { return ParseOverridesAt(data, time.Now()) }

// ParseOverridesAt is ParseOverrides with relative times resolved against now.
func ParseOverridesAt(data []byte, now time.Time) ([]Override, error) {
	var in overridesJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("sim: overrides: %w: %w", telemetry.ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sim: overrides: %w: data after the JSON object", telemetry.ErrInvalid)
	}
	list := make([]Override, 0, len(in.Overrides))
	var errs []error
	for i, j := range in.Overrides {
		o, err := j.override(now)
		if err != nil {
			errs = append(errs, fmt.Errorf("overrides[%d]: %w", i, err))
		}
		list = append(list, o)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sim: overrides: %w: %w", telemetry.ErrInvalid, err)
	}
	return list, nil
}

func (j overrideJSON) override(now time.Time) (Override, error) {
	o := Override{Channel: j.Channel, Field: j.Field, Offset: j.Offset}
	var errs []error
	if j.Channel <= 0 {
		errs = append(errs, fmt.Errorf("channel %d: must be a positive channel id", j.Channel))
	}
	switch {
	case j.Value != nil && j.Offset != nil:
		errs = append(errs, errors.New("give a value or an offset, not both"))
	case j.Value == nil && j.Offset == nil:
		errs = append(errs, errors.New("give a value (a number, or null) or an offset"))
	case j.Value != nil && string(j.Value) != "null":
		var v float64
		if err := json.Unmarshal(j.Value, &v); err != nil {
			errs = append(errs, fmt.Errorf("value %s: must be a number or null", j.Value))
		}
		o.Value = &v
	}
	o.From, errs = parseMoment("from", j.From, now, errs)
	o.Until, errs = parseMoment("until", j.Until, now, errs)
	if len(errs) == 0 {
		errs = append(errs, o.validate())
	}
	return o, errors.Join(errs...)
}

// parseMoment reads an RFC 3339 time or a duration relative to now ("-5s",
// "+30s"); "" is the zero time.
func parseMoment(name, s string, now time.Time, errs []error) (time.Time, []error) {
	if s == "" {
		return time.Time{}, errs
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, errs
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, append(errs, fmt.Errorf("%s %q: want an RFC 3339 time or a duration relative to now such as -5s or +30s", name, s))
	}
	return now.Add(d), errs
}
