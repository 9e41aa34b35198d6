package sqlcore

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// SQLiteTime is the one text form of a time in the SQLite schema: UTC with
// milliseconds, fixed width, so that text order is time order and the
// schema's CHECK (… LIKE '____-__-__T__:__:__.___Z') holds.
const SQLiteTime = "2006-01-02T15:04:05.000Z"

// NewID returns a new primary key: a UUIDv7, time-ordered so that inserts
// append to the index instead of scattering over it.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// timeDest scans a timestamp whichever way the engine returns it
// (time.Time from PostgreSQL, text from SQLite) into *time.Time or, for a
// nullable column, **time.Time.
type timeDest struct {
	t  *time.Time
	pt **time.Time
}

// T scans a NOT NULL timestamp into t.
func T(t *time.Time) any { return &timeDest{t: t} }

// NT scans a nullable timestamp into pt (nil when NULL).
func NT(pt **time.Time) any { return &timeDest{pt: pt} }

func (d *timeDest) Scan(src any) error {
	var v time.Time
	switch s := src.(type) {
	case nil:
		if d.pt != nil {
			*d.pt = nil
			return nil
		}
		return fmt.Errorf("sqlcore: NULL in a NOT NULL time column")
	case time.Time:
		v = s
	case string:
		return d.parse(s)
	case []byte:
		return d.parse(string(s))
	default:
		return fmt.Errorf("sqlcore: cannot scan %T into a time", src)
	}
	d.set(v.UTC())
	return nil
}

func (d *timeDest) parse(s string) error {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if v, err = time.Parse("2006-01-02", s); err != nil {
			return fmt.Errorf("sqlcore: bad time %q", s)
		}
	}
	d.set(v.UTC())
	return nil
}

func (d *timeDest) set(v time.Time) {
	if d.pt != nil {
		*d.pt = &v
		return
	}
	*d.t = v
}

// jsonDest scans a JSON column (jsonb or TEXT) into a Go value.
type jsonDest struct{ v any }

// J scans a JSON column into v (a pointer). NULL leaves v unchanged.
func J(v any) any { return &jsonDest{v: v} }

func (d *jsonDest) Scan(src any) error {
	switch s := src.(type) {
	case nil:
		return nil
	case string:
		return json.Unmarshal([]byte(s), d.v)
	case []byte:
		return json.Unmarshal(s, d.v)
	default:
		// pgx may hand over an already decoded value for jsonb.
		raw, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, d.v)
	}
}

// JSONArg encodes v as a JSON argument, accepted as jsonb by PostgreSQL and
// as TEXT by SQLite.
type JSONArg struct{ V any }

// Value implements driver.Valuer.
func (a JSONArg) Value() (driver.Value, error) {
	raw, err := json.Marshal(a.V)
	if err != nil {
		return nil, err
	}
	return string(raw), nil
}

// textDest scans a text-ish column (uuid from PostgreSQL, TEXT from SQLite)
// into *string or, when nullable, **string.
type textDest struct {
	s  *string
	ps **string
}

// S scans a NOT NULL text or uuid column.
func S(s *string) any { return &textDest{s: s} }

// NS scans a nullable text or uuid column.
func NS(ps **string) any { return &textDest{ps: ps} }

func (d *textDest) Scan(src any) error {
	var v string
	switch s := src.(type) {
	case nil:
		if d.ps != nil {
			*d.ps = nil
			return nil
		}
		return fmt.Errorf("sqlcore: NULL in a NOT NULL text column")
	case string:
		v = s
	case []byte:
		v = string(s)
	case [16]byte: // pgx uuid
		v = uuid.UUID(s).String()
	default:
		return fmt.Errorf("sqlcore: cannot scan %T into a string", src)
	}
	if d.ps != nil {
		*d.ps = &v
		return nil
	}
	*d.s = v
	return nil
}

// Opt turns an optional string into a nullable argument.
func Opt[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// OptText turns "" into NULL.
func OptText(s string) any {
	if s == "" {
		return nil
	}
	return s
}
