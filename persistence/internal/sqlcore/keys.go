package sqlcore

import (
	"context"

	"github.com/evaratech/evara/internal/telemetry"
)

// SealedCredentials lists every credential sealed under a key other than
// activeKeyID: the work of `evara keys rotate`.
func (s *Store) SealedCredentials(ctx context.Context, activeKeyID string) ([]telemetry.SealedCredential, error) {
	queries := []struct{ table, query string }{
		{"nodes", `SELECT id, channel_key_id, channel_key_ciphertext, write_key_ciphertext FROM nodes
			WHERE channel_key_id IS NOT NULL AND channel_key_id <> $1`},
		{"webhook_subscriptions", `SELECT id, secret_key_id, secret_ciphertext, NULL FROM webhook_subscriptions
			WHERE secret_key_id <> $1`},
	}
	var out []telemetry.SealedCredential
	for _, q := range queries {
		rows, err := s.db.Query(ctx, s.q(q.query), activeKeyID)
		if err != nil {
			return nil, s.translate(err, q.table)
		}
		for rows.Next() {
			c := telemetry.SealedCredential{Table: q.table}
			if err := rows.Scan(S(&c.ID), &c.Key.KeyID, &c.Key.Ciphertext, &c.Extra); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, c)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ResealCredential replaces a credential's ciphertexts if it is still sealed
// under the key id read by telemetry.SealedCredentials (compare-and-swap: a
// credential changed meanwhile is left alone and reported false).
func (s *Store) ResealCredential(ctx context.Context, old telemetry.SealedCredential, key telemetry.SealedSecret, extra []byte) (bool, error) {
	query := `UPDATE webhook_subscriptions SET secret_key_id = $1, secret_ciphertext = $2 WHERE id = $3 AND secret_key_id = $4`
	args := []any{key.KeyID, key.Ciphertext, old.ID, old.Key.KeyID}
	if old.Table == "nodes" {
		query = `UPDATE nodes SET channel_key_id = $1, channel_key_ciphertext = $2, write_key_ciphertext = $5
			WHERE id = $3 AND channel_key_id = $4`
		args = append(args, extra)
	}
	n, err := s.db.Exec(ctx, s.q(query), args...)
	if err != nil {
		return false, s.translate(err, old.Table)
	}
	return n == 1, nil
}
