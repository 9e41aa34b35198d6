package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/config"
)

// mintToken runs `evara token`: it signs an HS256 token for --sub with the
// JWT secret the server verifies with, and prints it alone on a line, so
// that `TOKEN=$(evara token --sub …)` works. The token's role claim is for
// display only: what the holder may do comes from its users_profiles row
// (`evara users promote`).
func mintToken(cfg config.Config, stdout io.Writer) error {
	// Validate has refused both already; these keep the function safe to
	// call on its own.
	if !cfg.JWTSecret.IsSet() {
		return errors.New("token: no JWT secret: set EVARA_JWT_SECRET (or SUPABASE_JWT_SECRET) to the secret the server verifies with")
	}
	if cfg.Token.Sub == "" {
		return errors.New("token: --sub (the user id the token is for) is required")
	}
	tok, err := auth.Mint([]byte(cfg.JWTSecret.Reveal()), auth.MintOptions{
		Subject:  cfg.Token.Sub,
		Email:    cfg.Token.Email,
		Role:     cfg.Token.Role,
		TTL:      cfg.Token.TTL,
		Audience: cfg.API.Audience,
		Issuer:   cfg.API.Issuer,
	})
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
