package sqlcore

// Users and what they did: user profiles (identity, role, scope), the
// append-only audit log, system configuration and browser error reports.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evaratech/evara/internal/telemetry"
)

const profileColumns = `p.id, p.email, p.display_name, p.role, p.plan, p.distributor_id, p.community_id, p.created_at, p.updated_at`

func scanProfile(r Row) (telemetry.UserProfile, error) {
	var p telemetry.UserProfile
	err := r.Scan(&p.ID, &p.Email, &p.DisplayName, (*string)(&p.Role), &p.Plan, NS(&p.DistributorID), NS(&p.CommunityID),
		T(&p.CreatedAt), T(&p.UpdatedAt))
	return p, err
}

// profileScope keeps a profile row (alias p) within scope: a customer sees
// its own login, a community admin its community's users, a distributor
// its own users and those of its communities.
func profileScope(scope telemetry.Scope, a *args) string {
	return ownership{
		customerMatch: func(p string) string { return "p.id = (SELECT user_id FROM customers WHERE id = " + p + ")" },
		community:     "p.community_id",
		distributor:   "p.distributor_id",
	}.condition(scope, a)
}

// SyncProfile records a login: the first one creates a customer profile,
// later ones update the email and display name (an empty one keeps what is
// stored). It never changes role or scope, and reports whether it created
// the profile. Concurrent first logins are safe: exactly one creates. An
// email already used by another profile is ErrConflict.
func (s *Store) SyncProfile(ctx context.Context, sub, email, displayName string) (telemetry.UserProfile, bool, error) {
	if sub == "" {
		return telemetry.UserProfile{}, false, errors.Join(telemetry.ErrInvalid, errors.New("empty subject"))
	}
	now := s.d.Time(time.Now().UTC().Truncate(time.Millisecond))
	var (
		p       telemetry.UserProfile
		created bool
	)
	err := s.db.InTx(ctx, func(tx DB) error {
		// ON CONFLICT DO NOTHING waits for a racing insert of the same id
		// and then affects no row: only one login sees 1.
		n, err := tx.Exec(ctx, s.q(`INSERT INTO users_profiles (id, email, display_name, role, plan, created_at, updated_at)
			VALUES ($1, $2, $3, 'customer', 'base', $4, $4) ON CONFLICT (id) DO NOTHING`), sub, OptText(email), OptText(displayName), now)
		if err != nil {
			return err
		}
		if created = n == 1; !created {
			_, err = tx.Exec(ctx, s.q(`UPDATE users_profiles SET email = COALESCE($2, email), display_name = COALESCE($3, display_name),
				updated_at = $4 WHERE id = $1 AND (email IS DISTINCT FROM COALESCE($2, email)
				OR display_name IS DISTINCT FROM COALESCE($3, display_name))`), sub, OptText(email), OptText(displayName), now)
			if err != nil {
				return err
			}
		}
		p, err = scanProfile(tx.QueryRow(ctx, s.q("SELECT "+profileColumns+" FROM users_profiles p WHERE p.id = $1"), sub))
		return err
	})
	return p, created, s.translate(err, "user profile (email)")
}

// GetProfile returns the profile of this user id (JWT sub).
func (s *Store) GetProfile(ctx context.Context, id string) (telemetry.UserProfile, error) {
	p, err := scanProfile(s.db.QueryRow(ctx, s.q("SELECT "+profileColumns+" FROM users_profiles p WHERE p.id = $1"), id))
	return p, s.translate(err, "user profile")
}

// GetProfileByEmail returns the profile with this email, ignoring case
// (ASCII case in the embedded store).
func (s *Store) GetProfileByEmail(ctx context.Context, email string) (telemetry.UserProfile, error) {
	p, err := scanProfile(s.db.QueryRow(ctx, s.q("SELECT "+profileColumns+" FROM users_profiles p WHERE lower(p.email) = lower($1)"), email))
	return p, s.translate(err, "user profile")
}

// ListProfiles returns one page of the profiles in scope, by email (those
// without one last), and how many there are.
func (s *Store) ListProfiles(ctx context.Context, scope telemetry.Scope, page telemetry.Page) ([]telemetry.UserProfile, int, error) {
	var a args
	cond := where{profileScope(scope, &a)}
	total, err := s.tenancyCount(ctx, "user profile", "SELECT count(*) FROM users_profiles p"+cond.String(), a)
	if err != nil {
		return nil, 0, err
	}
	page = page.Normalize()
	query := "SELECT " + profileColumns + " FROM users_profiles p" + cond.String() +
		" ORDER BY p.email IS NULL, lower(p.email), p.id LIMIT " + a.add(page.Limit) + " OFFSET " + a.add(page.Offset)
	out, err := queryAll(ctx, s, "user profile", query, a, scanProfile)
	return out, total, err
}

// ErrRoleChanged is returned (wrapped with telemetry.ErrConflict) when a
// profile's role or scope changed between reading and writing it.
var ErrRoleChanged = errors.New("the user's role was changed by someone else; reload and retry")

// SetRole gives a user a role and scope ("" clears a scope) and returns
// the profile before and after, for the audit log. A distributor needs a
// distributor, a community admin a community (else ErrInvalid); a
// community of another distributor than the one given is ErrInvalid.
func (s *Store) SetRole(ctx context.Context, id string, role telemetry.Role, distributorID, communityID string) (before, after telemetry.UserProfile, err error) {
	if !role.Valid() {
		return before, after, errors.Join(telemetry.ErrInvalid, errors.New("unknown role "+string(role)))
	}
	get := s.q("SELECT " + profileColumns + " FROM users_profiles p WHERE p.id = $1")
	err = s.db.InTx(ctx, func(tx DB) error {
		old, err := scanProfile(tx.QueryRow(ctx, get, id))
		if err != nil {
			return err
		}
		if err := s.checkCommunityOf(ctx, tx, distributorID, communityID); err != nil {
			return err
		}
		// Compare and set: the audit's "before" is exactly what was replaced.
		n, err := tx.Exec(ctx, s.q(`UPDATE users_profiles SET role = $1, distributor_id = $2, community_id = $3, updated_at = $4
			WHERE id = $5 AND role = $6 AND distributor_id IS NOT DISTINCT FROM $7 AND community_id IS NOT DISTINCT FROM $8`),
			string(role), OptText(distributorID), OptText(communityID), s.d.Time(time.Now().UTC().Truncate(time.Millisecond)),
			id, string(old.Role), Opt(old.DistributorID), Opt(old.CommunityID))
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.Join(telemetry.ErrConflict, ErrRoleChanged)
		}
		before = old
		after, err = scanProfile(tx.QueryRow(ctx, get, id))
		return err
	})
	if err != nil {
		return telemetry.UserProfile{}, telemetry.UserProfile{}, s.translate(err, "user profile")
	}
	return before, after, nil
}

// checkCommunityOf refuses a community that is not the distributor's, when
// both are given (users_profiles has no composite key to refuse it).
func (s *Store) checkCommunityOf(ctx context.Context, tx DB, distributorID, communityID string) error {
	if distributorID == "" || communityID == "" {
		return nil
	}
	var n int
	err := tx.QueryRow(ctx, s.q(`SELECT count(*) FROM communities WHERE id = $1 AND distributor_id = $2`), communityID, distributorID).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.Join(telemetry.ErrInvalid, errors.New("the community is not the distributor's"))
	}
	return nil
}

// PromoteByEmail gives the user with this email (ignoring case) a role
// that needs no scope, such as superadmin (bootstrap: `evara users
// promote`), and returns the updated profile.
func (s *Store) PromoteByEmail(ctx context.Context, email string, role telemetry.Role) (telemetry.UserProfile, error) {
	if !role.Valid() {
		return telemetry.UserProfile{}, errors.Join(telemetry.ErrInvalid, errors.New("unknown role "+string(role)))
	}
	n, err := s.db.Exec(ctx, s.q(`UPDATE users_profiles SET role = $1, updated_at = $2 WHERE lower(email) = lower($3)`),
		string(role), s.d.Time(time.Now().UTC().Truncate(time.Millisecond)), email)
	if err != nil {
		return telemetry.UserProfile{}, s.translate(err, "user profile")
	}
	if n == 0 {
		return telemetry.UserProfile{}, telemetry.ErrNotFound
	}
	return s.GetProfileByEmail(ctx, email)
}

// AppendAudit adds an entry to the audit log and returns it with the id
// and timestamp the store gave it. The log is append-only: there is no
// call to change or remove an entry, and the schema refuses both.
func (s *Store) AppendAudit(ctx context.Context, e telemetry.AuditEntry) (telemetry.AuditEntry, error) {
	if strings.TrimSpace(e.Action) == "" {
		return e, errors.Join(telemetry.ErrInvalid, errors.New("audit entry without an action"))
	}
	if e.Metadata == nil {
		e.Metadata = map[string]any{}
	}
	meta, err := json.Marshal(e.Metadata)
	if err != nil {
		return e, errors.Join(telemetry.ErrInvalid, err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	err = s.db.QueryRow(ctx, s.q(`INSERT INTO audit_logs (user_id, action_type, resource_type, resource_id, metadata, request_id, timestamp)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`),
		OptText(e.UserID), e.Action, OptText(e.ResourceType), OptText(e.ResourceID), string(meta), OptText(e.RequestID),
		s.d.Time(now)).Scan(&e.ID)
	if err != nil {
		return e, s.translate(err, "audit entry")
	}
	e.Timestamp = now
	return e, nil
}

// ListAudit returns one page of the audit entries that match f, newest
// first. It returns no total: the log grows without bound, and counting it
// for every page would cost more than the page.
func (s *Store) ListAudit(ctx context.Context, f telemetry.AuditFilter) ([]telemetry.AuditEntry, error) {
	var (
		a    args
		cond where
	)
	for _, eq := range []struct{ col, v string }{{"l.user_id", f.UserID}, {"l.resource_type", f.ResourceType}, {"l.resource_id", f.ResourceID}} {
		if eq.v != "" {
			cond = append(cond, eq.col+" = "+a.add(eq.v))
		}
	}
	if !f.Since.IsZero() {
		cond = append(cond, "l.timestamp >= "+a.add(s.d.Time(f.Since)))
	}
	page := f.Page.Normalize()
	query := `SELECT l.id, COALESCE(l.user_id, ''), l.action_type, COALESCE(l.resource_type, ''), COALESCE(l.resource_id, ''),
		l.metadata, COALESCE(l.request_id, ''), l.timestamp FROM audit_logs l` + cond.String() +
		" ORDER BY l.timestamp DESC, l.id DESC LIMIT " + a.add(page.Limit) + " OFFSET " + a.add(page.Offset)
	return queryAll(ctx, s, "audit entry", query, a, func(r Row) (telemetry.AuditEntry, error) {
		var e telemetry.AuditEntry
		err := r.Scan(&e.ID, &e.UserID, &e.Action, &e.ResourceType, &e.ResourceID, J(&e.Metadata), &e.RequestID, T(&e.Timestamp))
		return e, err
	})
}

// GetSystemConfig returns the JSON value stored under key.
func (s *Store) GetSystemConfig(ctx context.Context, key string) (json.RawMessage, error) {
	var v json.RawMessage
	err := s.db.QueryRow(ctx, s.q(`SELECT value FROM system_config WHERE key = $1`), key).Scan(J(&v))
	if err != nil {
		return nil, s.translate(err, "system config")
	}
	if v == nil {
		v = json.RawMessage("null")
	}
	return v, nil
}

// PutSystemConfig stores a JSON value under key, replacing any, and
// records who set it ("" for the system).
func (s *Store) PutSystemConfig(ctx context.Context, key string, value json.RawMessage, updatedBy string) error {
	if key == "" || !json.Valid(value) {
		return errors.Join(telemetry.ErrInvalid, errors.New("system config needs a key and a JSON value"))
	}
	_, err := s.db.Exec(ctx, s.q(`INSERT INTO system_config (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`),
		key, string(value), s.d.Time(time.Now().UTC().Truncate(time.Millisecond)), OptText(updatedBy))
	return s.translate(err, "system config")
}

// The largest frontend error fields stored, in bytes; longer ones are cut.
// The endpoint is public: the bounds keep one report small whatever is sent.
const (
	MaxFrontendMessage   = 2 << 10
	MaxFrontendStack     = 16 << 10
	MaxFrontendURL       = 2 << 10
	MaxFrontendUserAgent = 512
	MaxFrontendUserID    = 256
)

// InsertFrontendError stores a browser's error report, each field cut to
// its bound (on a UTF-8 boundary) and cleaned of what PostgreSQL text
// cannot hold (NUL bytes, invalid UTF-8).
func (s *Store) InsertFrontendError(ctx context.Context, e telemetry.FrontendError) error {
	_, err := s.db.Exec(ctx, s.q(`INSERT INTO frontend_errors (id, message, stack, url, user_agent, user_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`),
		NewID(), clip(e.Message, MaxFrontendMessage), OptText(clip(e.Stack, MaxFrontendStack)), OptText(clip(e.URL, MaxFrontendURL)),
		OptText(clip(e.UserAgent, MaxFrontendUserAgent)), OptText(clip(e.UserID, MaxFrontendUserID)),
		s.d.Time(time.Now().UTC().Truncate(time.Millisecond)))
	return s.translate(err, "frontend error")
}

// clip cleans s and cuts it to at most n bytes without splitting a rune.
// It looks at no more than n+utf8.UTFMax bytes of a huge input.
func clip(s string, n int) string {
	if len(s) > n+utf8.UTFMax {
		s = s[:n+utf8.UTFMax]
	}
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
