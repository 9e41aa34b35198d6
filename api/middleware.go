package api

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/helmet"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/api/ws"
	"github.com/evaratech/evara/internal/telemetry"
)

// RateLimiter decides whether one more request under key fits in perMinute
// requests a minute (GCRA, shared by every replica through Redis when it is
// configured). RetryAfter is how long to wait when it does not.
type RateLimiter interface {
	Allow(ctx context.Context, key string, perMinute int) (allowed bool, retryAfter time.Duration, err error)
}

// Security configures the API's gate: CORS, IP lists and rate limits.
type Security struct {
	CORSOrigins []string       // allowed origins; empty: no cross-origin access
	Allow       []netip.Prefix // when set, only these may call /api/v1
	Deny        []netip.Prefix // refused on /api/v1
	UserRate    int            // requests/min per user (default 100)
	AnonRate    int            // requests/min per IP without a valid token (default 60)
}

func (s Security) withDefaults() Security {
	if s.UserRate <= 0 {
		s.UserRate = 100
	}
	if s.AnonRate <= 0 {
		s.AnonRate = 60
	}
	return s
}

// identifyTimeout bounds the store and cache calls of identifying a caller.
const identifyTimeout = 3 * time.Second

// useGate installs what every request under /api/v1 goes through, in order:
// security headers, CORS, the IP lists, then identification and the rate
// limit (per user with a valid token, per IP without one).
func (s *Server) useGate() {
	s.app.Use(helmet.New(helmet.Config{
		// JSON only: nothing here is framed, scripted or embedded.
		ContentSecurityPolicy:     "default-src 'none'; frame-ancestors 'none'",
		HSTSMaxAge:                31536000,
		CrossOriginEmbedderPolicy: "require-corp",
	}))
	if len(s.sec.CORSOrigins) > 0 {
		s.app.Use(cors.New(cors.Config{
			AllowOrigins:  strings.Join(s.sec.CORSOrigins, ","),
			AllowMethods:  "GET,POST,PUT,PATCH,DELETE,OPTIONS",
			AllowHeaders:  "Authorization,Content-Type,X-Request-ID",
			ExposeHeaders: "X-Request-ID,X-Total-Count,Retry-After",
			MaxAge:        600,
		}))
	}
	s.app.Use(apiPrefix, s.filterIP, s.identify)
}

// filterIP refuses addresses on the deny list, and any not on the allow
// list when there is one.
func (s *Server) filterIP(c *fiber.Ctx) error {
	if len(s.sec.Allow) == 0 && len(s.sec.Deny) == 0 {
		return c.Next()
	}
	ip, err := netip.ParseAddr(c.IP())
	if err != nil {
		return fiber.NewError(fiber.StatusForbidden, "your address is not allowed")
	}
	ip = ip.Unmap()
	for _, p := range s.sec.Deny {
		if p.Contains(ip) {
			return fiber.NewError(fiber.StatusForbidden, "your address is not allowed")
		}
	}
	if len(s.sec.Allow) == 0 {
		return c.Next()
	}
	for _, p := range s.sec.Allow {
		if p.Contains(ip) {
			return c.Next()
		}
	}
	return fiber.NewError(fiber.StatusForbidden, "your address is not allowed")
}

// identify verifies the bearer token when there is one and charges the
// request to the caller's rate limit. A request without a token goes on
// anonymously (the route decides whether that is enough); a bad token is
// 401 on every route, and is charged to the caller's IP first, so that
// guessing tokens is limited like any anonymous call.
func (s *Server) identify(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), identifyTimeout)
	defer cancel()
	raw, ok := auth.FromHeader(c.Get(fiber.HeaderAuthorization))
	if !ok {
		if user, err := s.upgradeOfUser(ctx, c); user {
			if err != nil {
				return err
			}
			return c.Next()
		}
		if err := s.limit(ctx, c, "ip:"+c.IP(), s.sec.AnonRate); err != nil {
			return err
		}
		return c.Next()
	}
	if s.auth == nil {
		return s.unauthorized(c, "authentication is not configured")
	}
	claims, err := s.auth.Verify(ctx, raw)
	if err != nil {
		if lerr := s.limit(ctx, c, "ip:"+c.IP(), s.sec.AnonRate); lerr != nil {
			return lerr
		}
		if errors.Is(err, auth.ErrUnauthorized) {
			return s.unauthorized(c, "invalid or expired token ("+string(auth.ReasonOf(err))+")")
		}
		return err // the revocation check could not be made: 503
	}
	if err := s.limit(ctx, c, "user:"+claims.Subject, s.sec.UserRate); err != nil {
		return err
	}
	p, err := s.resolve(ctx, requestID(c), claims)
	if err != nil {
		return err
	}
	c.Locals(principalKey, p)
	return c.Next()
}

// upgradeOfUser charges a WebSocket upgrade that carries a valid token
// (as its protocol or ?token=, where browsers put it) to its user's limit
// instead of its address's: an office behind one NAT address reconnecting
// its dashboards at once must not exhaust the anonymous limit. It reports
// whether it did, and the limit's answer (429 when the user is over it).
// Anything else — no token, a bad one — is left to the
// anonymous path: the WebSocket layer verifies the token again after the
// upgrade and closes with 4001, which a browser can see.
func (s *Server) upgradeOfUser(ctx context.Context, c *fiber.Ctx) (bool, error) {
	raw, upgrade := ws.UpgradeToken(c)
	if s.auth == nil || !upgrade || raw == "" {
		return false, nil
	}
	if claims, err := s.auth.Verify(ctx, raw); err == nil {
		return true, s.limit(ctx, c, "user:"+claims.Subject, s.sec.UserRate)
	}
	return false, nil // a bad token: charged to the address, closed with 4001 after the upgrade
}

func (s *Server) unauthorized(c *fiber.Ctx, detail string) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="evara"`)
	return fiber.NewError(fiber.StatusUnauthorized, detail)
}

// limit charges one request to key. A limiter that fails lets the request
// through: the limiter degrades to local counts by itself, and an outage
// of it must not become an outage of the API.
func (s *Server) limit(ctx context.Context, c *fiber.Ctx, key string, perMinute int) error {
	if s.limiter == nil {
		return nil
	}
	allowed, retry, err := s.limiter.Allow(ctx, key, perMinute)
	if err != nil {
		s.log.Warn("rate limit not checked", "request_id", requestID(c), "err", err)
		return nil
	}
	if allowed {
		return nil
	}
	secs := max(1, int((retry+time.Second-1)/time.Second))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return fiber.NewError(fiber.StatusTooManyRequests, "too many requests; retry after "+strconv.Itoa(secs)+" s")
}

// require lets a request through when its caller holds perm. A caller
// without a token is 401; one whose role lacks perm is 403, and the denial
// is audited.
func (s *Server) require(perm Permission) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if perm == PermPublic {
			return c.Next()
		}
		p := principalOf(c)
		if p == nil {
			return s.unauthorized(c, "a bearer token is required")
		}
		if !Allows(p.Profile.Role, perm) {
			s.record(c, "permission.denied", "route", c.Route().Path, map[string]any{
				"method": c.Method(), "path": string(c.Request().URI().Path()), "permission": string(perm), "role": string(p.Profile.Role)})
			return fiber.NewError(fiber.StatusForbidden, "your role may not do this")
		}
		return c.Next()
	}
}

// requestID is the request's correlation id.
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals("requestid").(string)
	return id
}

// scopeOf is the caller's scope; a request without a principal sees nothing.
func scopeOf(c *fiber.Ctx) telemetry.Scope {
	if p := principalOf(c); p != nil {
		return p.Scope
	}
	return telemetry.Scope{}
}
