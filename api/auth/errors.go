package auth

import "errors"

// ErrUnauthorized is wrapped by every refusal of a token. Map it to 401.
var ErrUnauthorized = errors.New("unauthorized")

// Reason is the short, stable cause of a refusal. It is safe to log and to
// return to clients: it never contains any part of the token.
type Reason string

// The reasons a token is refused.
const (
	ReasonExpired           Reason = "expired"             // exp (plus leeway) has passed
	ReasonNotYetValid       Reason = "not_yet_valid"       // nbf or iat lies beyond now plus leeway
	ReasonBadAudience       Reason = "bad_audience"        // aud does not contain the configured audience
	ReasonBadIssuer         Reason = "bad_issuer"          // iss differs from the configured issuer
	ReasonUnknownKey        Reason = "unknown_key"         // no kid, or a kid the JWKS does not hold
	ReasonBadSignature      Reason = "bad_signature"       // the signature does not verify
	ReasonBadAlgorithm      Reason = "bad_algorithm"       // alg none/unsupported, or not pinned to the key
	ReasonRevoked           Reason = "revoked"             // jti revoked (logout)
	ReasonMalformed         Reason = "malformed"           // not a well-formed JWT, or exp missing
	ReasonNoSubject         Reason = "no_subject"          // sub missing or empty
	ReasonNotConfigured     Reason = "not_configured"      // neither a secret nor a JWKS URL is configured
	ReasonDevBypassDisabled Reason = "dev_bypass_disabled" // a dev-bypass token without Options.DevBypass
)

// refusal is the error type behind every refusal: its text is the reason only.
type refusal struct{ reason Reason }

func (r *refusal) Error() string { return "auth: unauthorized: " + string(r.reason) }
func (r *refusal) Unwrap() error { return ErrUnauthorized }

func refuse(reason Reason) error { return &refusal{reason: reason} }

// ReasonOf returns the reason of a refusal, or "" when err is not one.
func ReasonOf(err error) Reason {
	var r *refusal
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}
