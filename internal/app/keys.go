package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
)

// rotatingStore is what `evara keys rotate` needs from the store.
type rotatingStore interface {
	SealedCredentials(ctx context.Context, activeKeyID string) ([]telemetry.SealedCredential, error)
	ResealCredential(ctx context.Context, old telemetry.SealedCredential, key telemetry.SealedSecret, extra []byte) (bool, error)
	AppendAudit(ctx context.Context, e telemetry.AuditEntry) (telemetry.AuditEntry, error)
}

// keysRotate re-seals every stored credential that is not under the active
// key of EVARA_ENCRYPTION_KEY (list the new key first, keep the old ones
// after it until this has run), and audits the rotation.
func keysRotate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) (err error) {
	kr, err := openKeyring(cfg, log)
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	st, _, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	rs, ok := st.(rotatingStore)
	if !ok {
		return errors.New("keys rotate: this store cannot list sealed credentials")
	}
	resealed, skipped, err := reseal(ctx, rs, kr)
	if err != nil {
		return fmt.Errorf("keys rotate: %w (%d re-sealed before the failure; running it again continues)", err, resealed)
	}
	if _, err := rs.AppendAudit(ctx, telemetry.AuditEntry{
		UserID: "system", Action: "keys.rotate", ResourceType: "encryption_key", ResourceID: kr.ActiveID(),
		Metadata: map[string]any{"resealed": resealed, "changed_meanwhile": skipped, "key_ids": kr.IDs()},
	}); err != nil {
		return fmt.Errorf("keys rotate: audit: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "re-sealed %d credentials under key %q (%d changed meanwhile and were left as they are)\n", resealed, kr.ActiveID(), skipped)
	return err
}

func reseal(ctx context.Context, rs rotatingStore, kr *keyring.Keyring) (resealed, skipped int, err error) {
	creds, err := rs.SealedCredentials(ctx, kr.ActiveID())
	if err != nil {
		return 0, 0, err
	}
	for _, c := range creds {
		aad := []byte(c.ID)
		id, ct, _, err := kr.Reseal(c.Key.KeyID, c.Key.Ciphertext, aad)
		if err != nil {
			return resealed, skipped, fmt.Errorf("%s %s: %w", c.Table, c.ID, err)
		}
		var extra []byte
		if c.Extra != nil {
			plain, err := kr.Open(c.Key.KeyID, c.Extra, aad)
			if err != nil {
				return resealed, skipped, fmt.Errorf("%s %s (second secret): %w", c.Table, c.ID, err)
			}
			// Sealed under the same active key the first one now uses.
			_, extra, err = kr.Seal(plain, aad)
			clear(plain)
			if err != nil {
				return resealed, skipped, err
			}
		}
		ok, err := rs.ResealCredential(ctx, c, telemetry.SealedSecret{KeyID: id, Ciphertext: ct}, extra)
		if err != nil {
			return resealed, skipped, err
		}
		if ok {
			resealed++
		} else {
			skipped++
		}
	}
	return resealed, skipped, nil
}
