package auth_test

import (
	"testing"

	"github.com/evaratech/evara/api/auth"
)

func TestFromHeader(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc.def.ghi", "abc.def.ghi", true},
		{"BEARER   abc.def.ghi  ", "abc.def.ghi", true},
		{"  Bearer abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"Bearer a,b", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"abc.def.ghi", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, ok := auth.FromHeader(c.in)
			if got != c.want || ok != c.ok {
				t.Errorf("FromHeader(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestFromWebSocketProtocol(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"bearer, abc.def.ghi", "abc.def.ghi", true},
		{"Bearer,abc.def.ghi", "abc.def.ghi", true},
		{"access_token, abc.def.ghi", "abc.def.ghi", true},
		{"ACCESS_TOKEN ,  abc.def.ghi ", "abc.def.ghi", true},
		{"evara.v1, bearer, abc.def.ghi", "abc.def.ghi", true},
		{"bearer", "", false},
		{"bearer, ", "", false},
		{"bearer, a b", "", false},
		{"abc.def.ghi", "", false},
		{"token, abc.def.ghi", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, ok := auth.FromWebSocketProtocol(c.in)
			if got != c.want || ok != c.ok {
				t.Errorf("FromWebSocketProtocol(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
			}
		})
	}
}
