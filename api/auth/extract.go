package auth

import "strings"

// FromHeader extracts the token from an Authorization header value of the
// form "Bearer <token>". The scheme is case-insensitive and surrounding
// spaces are trimmed; any other scheme, an empty token or a token with inner
// whitespace or commas gives false.
func FromHeader(authorization string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	return cleanToken(token)
}

// FromWebSocketProtocol extracts a token passed in a Sec-WebSocket-Protocol
// header, the one header a browser may set on a WebSocket upgrade. Two
// spellings are accepted, with case-insensitive markers:
//
//	Sec-WebSocket-Protocol: bearer, <token>
//	Sec-WebSocket-Protocol: access_token, <token>
//
// The marker may follow other subprotocols; the token is the element right
// after it. The server must answer with the marker ("bearer" or
// "access_token") as the selected subprotocol — never the token, which would
// echo a credential into the response.
func FromWebSocketProtocol(header string) (string, bool) {
	parts := strings.Split(header, ",")
	for i := 0; i+1 < len(parts); i++ {
		marker := strings.TrimSpace(parts[i])
		if strings.EqualFold(marker, "bearer") || strings.EqualFold(marker, "access_token") {
			return cleanToken(parts[i+1])
		}
	}
	return "", false
}

func cleanToken(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, " \t\r\n,") {
		return "", false
	}
	return s, true
}
