package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/evaratech/evara/internal/telemetry"
)

// promoter is what changing a role by email needs from the store: both
// `evara users promote` and EVARA_BOOTSTRAP_SUPERADMINS use it.
type promoter interface {
	GetProfileByEmail(ctx context.Context, email string) (telemetry.UserProfile, error)
	PromoteByEmail(ctx context.Context, email string, role telemetry.Role) (telemetry.UserProfile, error)
	AppendAudit(ctx context.Context, e telemetry.AuditEntry) (telemetry.AuditEntry, error)
}

// bootstrapSuperadmins makes every listed email superadmin whose profile
// exists and is not superadmin yet, each change audited. Emails without a
// profile (the user has never signed in) are skipped: login promotes them
// later. It goes through every email and returns the failures joined.
//
// Replicas starting together may both promote the same user; the role ends
// the same, and the audit log then shows the change twice.
func bootstrapSuperadmins(ctx context.Context, st promoter, emails []string, log *slog.Logger) error {
	var errs []error
	for _, email := range emails {
		before, after, err := promote(ctx, st, email, telemetry.RoleSuperadmin, "system", "EVARA_BOOTSTRAP_SUPERADMINS")
		switch {
		case errors.Is(err, telemetry.ErrNotFound):
			log.Debug("bootstrap superadmin has not signed in yet", "email", email)
		case err != nil:
			errs = append(errs, fmt.Errorf("bootstrap superadmin %s: %w", email, err))
		case before.Role != after.Role:
			log.Info("promoted bootstrap superadmin", "email", email, "user_id", after.ID, "from", string(before.Role))
		}
	}
	return errors.Join(errs...)
}

// promote gives the user with this email the role and audits the change
// as made by actor ("cli", "system") through via (the command or setting).
// It returns the profile
// before and after; when the user has the role already nothing is written
// and both are the same. A user without a profile is telemetry.ErrNotFound.
//
// PromoteByEmail does not report the role it replaced, so the profile is
// read first; a change made in between by someone else would show as
// "from" the role read.
func promote(ctx context.Context, st promoter, email string, role telemetry.Role, actor, via string) (before, after telemetry.UserProfile, err error) {
	before, err = st.GetProfileByEmail(ctx, email)
	if err != nil {
		return before, before, err
	}
	if before.Role == role {
		return before, before, nil
	}
	after, err = st.PromoteByEmail(ctx, email, role)
	if err != nil {
		return before, before, err
	}
	_, err = st.AppendAudit(ctx, telemetry.AuditEntry{
		UserID: actor, Action: "role.change", ResourceType: "user", ResourceID: after.ID,
		Metadata: map[string]any{"from": string(before.Role), "to": string(after.Role), "via": via},
	})
	if err != nil {
		return before, after, fmt.Errorf("audit: %w", err)
	}
	return before, after, nil
}
