package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evaratech/evara/internal/telemetry"
)

// Defaults of Options.
const (
	DefaultAudience               = "authenticated"
	DefaultLeeway                 = 30 * time.Second
	DefaultJWKSRefreshInterval    = time.Hour
	DefaultJWKSMinRefreshInterval = 30 * time.Second
	DefaultJWKSTimeout            = 10 * time.Second
)

// maxTokenBytes bounds the work done on an unauthenticated input. Supabase
// access tokens are well under 2 KiB.
const maxTokenBytes = 16 << 10

// RevocationChecker answers whether a token id (jti) has been revoked by a
// logout. It is declared here, implemented by the cache/store (Redis when
// configured, so that every replica sees a logout) and wired in internal/app.
type RevocationChecker interface {
	IsRevoked(ctx context.Context, jti string) (bool, error)
}

// Options configure a Verifier. At least one of HS256Secret and JWKSURL should
// be set; a Verifier with neither refuses every JWT (reason not_configured).
type Options struct {
	// HS256Secret verifies HS256 tokens (SUPABASE_JWT_SECRET). HS256 tokens
	// are verified with this secret only, never with a JWKS key.
	HS256Secret []byte
	// JWKSURL serves the public keys of ES256/RS256 tokens (EVARA_JWKS_URL).
	JWKSURL string
	// Audience must be one of the token's aud values; default "authenticated".
	Audience string
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Leeway is the clock skew allowed on exp, nbf and iat: 0 means the
	// default 30 s, a negative value means none.
	Leeway time.Duration
	// JWKSRefreshInterval is the period of the background refresh (default 1 h).
	JWKSRefreshInterval time.Duration
	// JWKSMinRefreshInterval bounds refreshes caused by unknown kids: at most
	// one per interval (default 30 s), so a flood of forged kids cannot turn
	// into a flood of requests to the identity provider. Other unknown kids in
	// the interval are refused at once rather than queued.
	JWKSMinRefreshInterval time.Duration
	// JWKSTimeout bounds one JWKS fetch (default 10 s).
	JWKSTimeout time.Duration
	// HTTPClient fetches the JWKS. Default: a client of the Verifier's own
	// (idle connections closed by Close). Either way its transport is wrapped
	// to cap the response body at 1 MiB.
	HTTPClient *http.Client
	// Logger receives JWKS refresh failures; default discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Revoked, when set, is asked about every token, by RevocationKey.
	Revoked RevocationChecker
	// DevBypass accepts the old dashboard's dev-bypass tokens (see
	// ParseDevBypass). Check it with CheckDevBypassAllowed before setting it.
	DevBypass bool
}

// Claims is the identity a verified token carries.
type Claims struct {
	Subject string // sub: the user's id
	Email   string
	JTI     string // token id, the handle of revocation; "" when absent
	// Role is the token's role claim, for logs only. Authorization never
	// uses it: the role comes from users_profiles (SPEC §9).
	Role      string
	ExpiresAt time.Time // zero for dev-bypass tokens
	IssuedAt  time.Time // zero when the token has no iat
	Audience  []string
	// DevBypass marks claims made from a dev-bypass token (no signature).
	DevBypass bool
}

// Verifier verifies bearer tokens. Build it with NewVerifier; Close it.
type Verifier struct {
	secret    []byte
	jwks      *jwksCache // nil without JWKSURL
	parser    *jwt.Parser
	audience  string
	issuer    string
	revoked   RevocationChecker
	devBypass bool
	now       func() time.Time
	leeway    time.Duration
	verified  verifiedCache

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewVerifier builds a Verifier. With a JWKSURL it fetches the key set once
// (bounded by JWKSTimeout; a failure is logged, not returned, so that an
// identity provider outage does not stop the server — the first token with an
// unknown kid retries) and starts the periodic refresh goroutine that Close
// stops. It fails only on an unusable configuration.
func NewVerifier(opts Options) (*Verifier, error) {
	opts = withDefaults(opts)
	v := &Verifier{
		audience:  opts.Audience,
		issuer:    opts.Issuer,
		revoked:   opts.Revoked,
		devBypass: opts.DevBypass,
		now:       opts.Now,
		leeway:    max(opts.Leeway, 0),
		cancel:    func() {},
	}
	if len(opts.HS256Secret) > 0 {
		v.secret = append([]byte(nil), opts.HS256Secret...)
		if len(v.secret) < 32 {
			opts.Logger.Warn("auth: HS256 secret shorter than 32 bytes", "secret_len", len(v.secret))
		}
	}
	if opts.JWKSURL != "" {
		u, err := url.Parse(opts.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("auth: JWKS URL must be an absolute http(s) URL: %w", telemetry.ErrInvalid)
		}
		v.jwks = newJWKSCache(opts)
		ctx, cancel := context.WithCancel(context.Background())
		v.cancel = cancel
		if err := v.jwks.refresh(ctx); err != nil {
			opts.Logger.Warn("auth: initial JWKS fetch failed", "err", err)
		}
		v.wg.Go(func() { v.jwks.run(ctx, opts.JWKSRefreshInterval) })
	}
	parserOpts := []jwt.ParserOption{
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithAudience(opts.Audience),
		// The algorithm is pinned per key in keyFor, not with
		// jwt.WithValidMethods, so that a wrong alg is reported as
		// bad_algorithm rather than as a bad signature.
	}
	if opts.Issuer != "" {
		parserOpts = append(parserOpts, jwt.WithIssuer(opts.Issuer))
	}
	v.parser = jwt.NewParser(parserOpts...)
	return v, nil
}

func withDefaults(o Options) Options {
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	switch {
	case o.Leeway == 0:
		o.Leeway = DefaultLeeway
	case o.Leeway < 0:
		o.Leeway = 0
	}
	if o.JWKSRefreshInterval <= 0 {
		o.JWKSRefreshInterval = DefaultJWKSRefreshInterval
	}
	if o.JWKSMinRefreshInterval <= 0 {
		o.JWKSMinRefreshInterval = DefaultJWKSMinRefreshInterval
	}
	if o.JWKSTimeout <= 0 {
		o.JWKSTimeout = DefaultJWKSTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Close stops the JWKS refresh goroutine and waits for it. It is idempotent.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		v.cancel()
		v.wg.Wait()
		if v.jwks != nil {
			v.jwks.close()
		}
	})
	return nil
}

// tokenClaims is the JSON shape of the tokens we accept (Supabase's, and
// those Mint makes).
type tokenClaims struct {
	jwt.RegisteredClaims
	Email string `json:"email,omitempty"`
	Role  string `json:"role,omitempty"`
}

// Verify checks raw (a JWT, or a dev-bypass token when Options.DevBypass is
// set) and returns its claims. A refusal wraps ErrUnauthorized and names a
// Reason; a failing RevocationChecker yields an error wrapping
// telemetry.ErrUnavailable. No error ever contains the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	if strings.HasPrefix(raw, DevBypassPrefix) {
		if !v.devBypass {
			return Claims{}, refuse(ReasonDevBypassDisabled)
		}
		c, ok := ParseDevBypass(raw)
		if !ok {
			return Claims{}, refuse(ReasonMalformed)
		}
		return c, nil
	}
	if v.secret == nil && v.jwks == nil {
		return Claims{}, refuse(ReasonNotConfigured)
	}
	if raw == "" || len(raw) > maxTokenBytes {
		return Claims{}, refuse(ReasonMalformed)
	}
	claims, err := v.check(ctx, raw)
	if err != nil {
		return Claims{}, err
	}
	if v.revoked != nil {
		revoked, err := v.revoked.IsRevoked(ctx, RevocationKey(claims.JTI, raw))
		if err != nil {
			return Claims{}, fmt.Errorf("auth: revocation check: %w: %w", telemetry.ErrUnavailable, err)
		}
		if revoked {
			return Claims{}, refuse(ReasonRevoked)
		}
	}
	return claims, nil
}

// check verifies the signature and claims of raw, or finds it verified
// already (until it expires, verifiedTTL at most).
func (v *Verifier) check(ctx context.Context, raw string) (Claims, error) {
	now := v.now()
	if c, ok := v.verified.get(raw, now); ok {
		return c, nil
	}
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(raw, &tc, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		return Claims{}, classify(err, &tc)
	}
	if tc.Subject == "" {
		return Claims{}, refuse(ReasonNoSubject)
	}
	c := claimsOf(&tc)
	until := now.Add(verifiedTTL)
	if exp := c.ExpiresAt.Add(v.leeway); exp.Before(until) {
		until = exp
	}
	v.verified.put(raw, c, until)
	return c, nil
}

// keyFor pins the algorithm to the key: HS256 only with the configured
// secret, ES256/RS256 only with a JWKS key of the matching type. Anything
// else (none, HS384, PS256, …) is refused before any signature check, which
// is what stops the RSA-public-key-as-HMAC-secret confusion attack.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	switch alg {
	case jwt.SigningMethodHS256.Alg():
		if v.secret == nil {
			return nil, refuse(ReasonBadAlgorithm)
		}
		return v.secret, nil
	case jwt.SigningMethodES256.Alg(), jwt.SigningMethodRS256.Alg():
		if v.jwks == nil {
			return nil, refuse(ReasonBadAlgorithm)
		}
		return v.jwks.key(ctx, t, alg)
	default:
		return nil, refuse(ReasonBadAlgorithm)
	}
}

// classify turns a jwt error into a refusal. The order matters where one
// token has several faults: the signature is checked before any claim, and
// among claims the time window comes first.
func classify(err error, tc *tokenClaims) error {
	var r *refusal
	switch {
	case errors.As(err, &r):
		return r
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ReasonMalformed)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(ReasonBadSignature)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ReasonExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ReasonNotYetValid)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(ReasonBadAudience)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse(ReasonBadIssuer)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		switch {
		case tc.ExpiresAt == nil:
			return refuse(ReasonMalformed)
		case len(tc.Audience) == 0 || (len(tc.Audience) == 1 && tc.Audience[0] == ""):
			return refuse(ReasonBadAudience)
		default:
			return refuse(ReasonBadIssuer)
		}
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing or unknown to the jwt library.
		return refuse(ReasonBadAlgorithm)
	default:
		return refuse(ReasonMalformed)
	}
}

func claimsOf(tc *tokenClaims) Claims {
	c := Claims{
		Subject:  tc.Subject,
		Email:    tc.Email,
		JTI:      tc.ID,
		Role:     tc.Role,
		Audience: append([]string(nil), tc.Audience...),
	}
	if tc.ExpiresAt != nil {
		c.ExpiresAt = tc.ExpiresAt.Time
	}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
	return c
}
