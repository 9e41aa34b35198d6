package storetest

import (
	"context"
	"testing"

	"github.com/evaratech/evara/internal/telemetry"
)

// customerLinker links an onboarded customer to a login by email.
type customerLinker interface {
	LinkCustomerByEmail(ctx context.Context, userID, email string) (string, error)
	CustomerIDForUser(ctx context.Context, userID string) (string, error)
}

// testCustomerLinks checks the link made at a customer's first sign-in:
// by email ignoring case, the oldest unlinked customer first, never a
// customer that has a login, never a second customer for one login.
func testCustomerLinks(t *testing.T, open Opener) {
	s := open(t)
	ls, ok := s.(customerLinker)
	if !ok {
		t.Fatal("the store does not link customers by email")
	}
	ctx := t.Context()
	newCustomer := func(name, email string, user *string) telemetry.Customer {
		c := telemetry.Customer{FullName: name, Email: &email, UserID: user}
		tenMust(t, s.CreateCustomer(ctx, &c))
		return c
	}
	for _, sub := range []string{"login-1", "login-2", "login-3"} {
		_, _, err := s.SyncProfile(ctx, sub, sub+"@example.com", "")
		tenMust(t, err)
	}
	first := newCustomer("First", "Login-1@Example.com", nil)
	newCustomer("Second", "login-1@example.com", nil)
	newCustomer("Taken", "login-2@example.com", ptr("login-3"))

	got, err := ls.LinkCustomerByEmail(ctx, "login-1", "login-1@example.com")
	if err != nil || got != first.ID {
		t.Fatalf("link login-1 = %q, %v; want the oldest customer %s", got, err, first.ID)
	}
	if id, err := ls.CustomerIDForUser(ctx, "login-1"); err != nil || id != first.ID {
		t.Errorf("customer of login-1 = %q, %v; want %s", id, err, first.ID)
	}
	for name, tc := range map[string]struct{ user, email string }{
		"a login already linked":        {"login-1", "login-1@example.com"},
		"a customer with another login": {"login-2", "login-2@example.com"},
		"no customer with the email":    {"login-2", "nobody@example.com"},
		"an empty email":                {"login-2", ""},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := ls.LinkCustomerByEmail(ctx, tc.user, tc.email)
			tenIs(t, "link", err, telemetry.ErrNotFound)
			if id != "" {
				t.Errorf("linked %s", id)
			}
		})
	}
	if _, err := ls.CustomerIDForUser(ctx, "login-2"); err == nil {
		t.Error("login-2 was linked to a customer")
	}
}
