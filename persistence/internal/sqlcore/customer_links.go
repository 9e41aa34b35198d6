package sqlcore

import (
	"context"
	"errors"

	"github.com/evaratech/evara/internal/telemetry"
)

// LinkCustomerByEmail links the login userID to the customer onboarded
// with email (ignoring case) that has no login yet, the oldest when there
// are several, and returns that customer's id. It is ErrNotFound when no
// such customer exists, or when the login is already linked to one (a
// login has at most one customer).
func (s *Store) LinkCustomerByEmail(ctx context.Context, userID, email string) (string, error) {
	if userID == "" || email == "" {
		return "", telemetry.ErrNotFound
	}
	var id string
	err := s.db.QueryRow(ctx, s.q(`UPDATE customers SET user_id = $1
		WHERE id = (SELECT id FROM customers WHERE lower(email) = lower($2) AND user_id IS NULL ORDER BY created_at, id LIMIT 1)
		AND NOT EXISTS (SELECT 1 FROM customers WHERE user_id = $1)
		RETURNING id`), userID, email).Scan(S(&id))
	if err = s.translate(err, "customer"); errors.Is(err, telemetry.ErrConflict) {
		return "", telemetry.ErrNotFound // a racing link of the same login won
	}
	return id, err
}
