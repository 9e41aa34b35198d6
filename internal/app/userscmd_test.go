package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/storetest"
)

// usersTestStore is what the tests need beyond promoter: creating profiles
// as a login does, and reading the audit log.
type usersTestStore interface {
	promoter
	SyncProfile(ctx context.Context, sub, email, displayName string) (telemetry.UserProfile, bool, error)
	ListAudit(ctx context.Context, f telemetry.AuditFilter) ([]telemetry.AuditEntry, error)
	Close() error
}

// userEngines give the environment of each store: the embedded one in a
// temporary directory, and PostgreSQL in a schema of its own when
// EVARA_TEST_DATABASE_URL is set.
var userEngines = map[string]func(t *testing.T) map[string]string{
	"embedded": func(t *testing.T) map[string]string { return map[string]string{"EVARA_DATA_DIR": t.TempDir()} },
	"postgres": func(t *testing.T) map[string]string {
		return map[string]string{"DATABASE_URL": storetest.FreshSchema(t)}
	},
}

func loadConfig(t *testing.T, args []string, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(args, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// openUsersStore opens the store of env as the commands do, with ada
// (customer) and root (superadmin) signed in once; the caller closes it.
func openUsersStore(t *testing.T, env map[string]string) (usersTestStore, map[string]string) {
	t.Helper()
	ctx := context.Background()
	cfg := loadConfig(t, []string{"users", "promote"}, env)
	st, _, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	us, ok := st.(usersTestStore)
	if !ok {
		st.Close()
		t.Fatalf("%T cannot create profiles or list the audit log", st)
	}
	ids := map[string]string{}
	for sub, email := range map[string]string{"sub-ada": "ada@example.com", "sub-root": "root@example.com"} {
		p, _, err := us.SyncProfile(ctx, sub, email, "")
		if err != nil {
			us.Close()
			t.Fatal(err)
		}
		ids[email] = p.ID
	}
	if _, err := us.PromoteByEmail(ctx, "root@example.com", telemetry.RoleSuperadmin); err != nil {
		us.Close()
		t.Fatal(err)
	}
	return us, ids
}

func roleChanges(t *testing.T, st usersTestStore, userID string) []telemetry.AuditEntry {
	t.Helper()
	entries, err := st.ListAudit(context.Background(), telemetry.AuditFilter{ResourceType: "user", ResourceID: userID})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// TestUsersPromote runs `evara users promote` against each store, one step
// after the other, and checks the role, the output and the audit log.
func TestUsersPromote(t *testing.T) {
	steps := []struct {
		name    string
		args    []string // after "users promote"
		wantOut string
		wantErr string
		email   string // whose role is checked afterwards
		role    telemetry.Role
		audits  int // role changes of email in the audit log afterwards
	}{
		{"customer to superadmin", []string{"ada@example.com"}, "promoted ada@example.com to superadmin\n", "", "ada@example.com", telemetry.RoleSuperadmin, 1},
		{"already superadmin, nothing written", []string{"ada@example.com", "--role", "superadmin"}, "ada@example.com is already superadmin\n", "", "ada@example.com", telemetry.RoleSuperadmin, 1},
		{"back to customer, email in another case", []string{"--role", "customer", "ADA@Example.com"}, "promoted ADA@Example.com to customer\n", "", "ada@example.com", telemetry.RoleCustomer, 2},
		{"never signed in", []string{"ghost@example.com"}, "", "no user with email ghost@example.com: they must sign in once first", "root@example.com", telemetry.RoleSuperadmin, 0},
		{"no email", nil, "", "give one email", "ada@example.com", telemetry.RoleCustomer, 2},
		{"two emails", []string{"ada@example.com", "root@example.com"}, "", "give one email", "root@example.com", telemetry.RoleSuperadmin, 0},
		{"scoped role refused", []string{"ada@example.com", "--role", "distributor"}, "", "needs a scope", "ada@example.com", telemetry.RoleCustomer, 2},
	}
	for name, engine := range userEngines {
		t.Run(name, func(t *testing.T) {
			ctx, log := context.Background(), slog.New(slog.DiscardHandler)
			env := engine(t)
			seeded, ids := openUsersStore(t, env)
			seeded.Close() // the command opens the store itself
			for _, step := range steps {
				var out strings.Builder
				err := Run(ctx, loadConfig(t, append([]string{"users", "promote"}, step.args...), env), Build{}, log, &out)
				switch {
				case step.wantErr == "" && err != nil:
					t.Fatalf("%s: %v", step.name, err)
				case step.wantErr != "" && (err == nil || !strings.Contains(err.Error(), step.wantErr)):
					t.Fatalf("%s: error %v, want one containing %q", step.name, err, step.wantErr)
				}
				if out.String() != step.wantOut {
					t.Errorf("%s: output %q, want %q", step.name, out.String(), step.wantOut)
				}
				st, _, err := openStore(ctx, loadConfig(t, []string{"users", "promote"}, env), log)
				if err != nil {
					t.Fatal(err)
				}
				us := st.(usersTestStore)
				p, err := us.GetProfileByEmail(ctx, step.email)
				if err != nil {
					t.Fatal(err)
				}
				if p.Role != step.role {
					t.Errorf("%s: %s is %s, want %s", step.name, step.email, p.Role, step.role)
				}
				if got := roleChanges(t, us, ids[step.email]); len(got) != step.audits {
					t.Errorf("%s: %d role changes of %s audited, want %d: %+v", step.name, len(got), step.email, step.audits, got)
				}
				us.Close()
			}

			st, _, err := openStore(ctx, loadConfig(t, []string{"users", "promote"}, env), log)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			audits := roleChanges(t, st.(usersTestStore), ids["ada@example.com"]) // newest first
			if len(audits) != 2 {
				t.Fatalf("%d role changes of ada@example.com audited, want 2", len(audits))
			}
			want := []map[string]any{
				{"from": "superadmin", "to": "customer", "via": "evara users promote"},
				{"from": "customer", "to": "superadmin", "via": "evara users promote"},
			}
			for i, e := range audits {
				if e.UserID != "cli" || e.Action != "role.change" || e.ResourceType != "user" ||
					e.Metadata["from"] != want[i]["from"] || e.Metadata["to"] != want[i]["to"] || e.Metadata["via"] != want[i]["via"] {
					t.Errorf("audit entry %d = %+v, want by cli, role.change of the user, metadata %v", i, e, want[i])
				}
			}
		})
	}
}

// TestUsersPromoteWithoutStore: pointed at a directory without the embedded
// store, the command says so instead of creating an empty one and
// reporting that the user never signed in.
func TestUsersPromoteWithoutStore(t *testing.T) {
	dir := t.TempDir()
	cfg := loadConfig(t, []string{"users", "promote", "ada@example.com"}, map[string]string{"EVARA_DATA_DIR": dir})
	err := Run(context.Background(), cfg, Build{}, slog.New(slog.DiscardHandler), &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "no embedded store at") {
		t.Fatalf("Run = %v, want an error about the missing store", err)
	}
}

// TestBootstrapSuperadmins promotes the listed users that have signed in,
// once each, and skips the others, on each store.
func TestBootstrapSuperadmins(t *testing.T) {
	for name, engine := range userEngines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, ids := openUsersStore(t, engine(t))
			defer st.Close()
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

			emails := []string{"ada@example.com", "ghost@example.com", "root@example.com", "ADA@example.com"}
			for range 2 { // a restart changes nothing more
				if err := bootstrapSuperadmins(ctx, st, emails, log); err != nil {
					t.Fatal(err)
				}
			}
			tests := []struct {
				email  string
				role   telemetry.Role
				audits int
			}{
				{"ada@example.com", telemetry.RoleSuperadmin, 1},
				{"root@example.com", telemetry.RoleSuperadmin, 0},
			}
			for _, tt := range tests {
				p, err := st.GetProfileByEmail(ctx, tt.email)
				if err != nil {
					t.Fatal(err)
				}
				if p.Role != tt.role {
					t.Errorf("%s is %s, want %s", tt.email, p.Role, tt.role)
				}
				audits := roleChanges(t, st, ids[tt.email])
				if len(audits) != tt.audits {
					t.Fatalf("%s: %d role changes audited, want %d: %+v", tt.email, len(audits), tt.audits, audits)
				}
				for _, e := range audits {
					if e.UserID != "system" || e.Metadata["via"] != "EVARA_BOOTSTRAP_SUPERADMINS" || e.Metadata["from"] != "customer" || e.Metadata["to"] != "superadmin" {
						t.Errorf("audit entry %+v", e)
					}
				}
			}
			if _, err := st.GetProfileByEmail(ctx, "ghost@example.com"); !errors.Is(err, telemetry.ErrNotFound) {
				t.Errorf("ghost@example.com has a profile now: %v", err)
			}
			if !strings.Contains(logs.String(), `"email":"ghost@example.com"`) {
				t.Errorf("the skipped email is not logged:\n%s", logs.String())
			}
		})
	}
}

// failingPromoter fails for one email and delegates the rest.
type failingPromoter struct {
	promoter
	fail string
}

func (f failingPromoter) GetProfileByEmail(ctx context.Context, email string) (telemetry.UserProfile, error) {
	if email == f.fail {
		return telemetry.UserProfile{}, telemetry.ErrUnavailable
	}
	return f.promoter.GetProfileByEmail(ctx, email)
}

// TestBootstrapSuperadminsGoesOn: one failing email does not stop the
// others, and the failure is returned naming the email.
func TestBootstrapSuperadminsGoesOn(t *testing.T) {
	ctx := context.Background()
	st, _ := openUsersStore(t, userEngines["embedded"](t))
	defer st.Close()
	err := bootstrapSuperadmins(ctx, failingPromoter{promoter: st, fail: "root@example.com"},
		[]string{"root@example.com", "ada@example.com"}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, telemetry.ErrUnavailable) || !strings.Contains(err.Error(), "root@example.com") {
		t.Fatalf("error %v, want the failure of root@example.com", err)
	}
	if p, _ := st.GetProfileByEmail(ctx, "ada@example.com"); p.Role != telemetry.RoleSuperadmin {
		t.Errorf("ada@example.com is %s after another email failed, want superadmin", p.Role)
	}
}
