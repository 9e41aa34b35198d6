package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestCheckWebhookURL(t *testing.T) {
	cases := []struct {
		url       string
		httpsOnly bool
		want      string
	}{
		{"https://hooks.example.com/evara", false, ""},
		{"http://hooks.example.com:8080/evara?team=ops", false, ""},
		{"https://[2001:db8::1]/hook", true, ""},
		{"https://hooks.example.com/evara", true, ""},
		{"http://hooks.example.com/evara", true, msgWebhookHTTPSOnly},
		{"https://hooks.example.com/" + strings.Repeat("a", maxWebhookURL-len("https://hooks.example.com/")), false, ""},
		{"https://hooks.example.com/" + strings.Repeat("a", maxWebhookURL-len("https://hooks.example.com/")+1), false, msgWebhookURL},
		{"", false, msgWebhookURL},
		{"hooks.example.com/evara", false, msgWebhookURL},
		{"/evara", false, msgWebhookURL},
		{"ftp://hooks.example.com", false, msgWebhookURL},
		{"HTTPS://hooks.example.com", false, msgWebhookURL}, // the schema's check is literal
		{"javascript:alert(1)", false, msgWebhookURL},
		{"http://", false, msgWebhookURL},
		{"http:///path", false, msgWebhookURL},
		{"http://:8080/path", false, msgWebhookURL},
		{"https://user:pass@hooks.example.com/", false, msgWebhookURL},
		{"https://hooks.example.com/#frag", false, msgWebhookURL},
		{"https://hooks.example.com/a b", false, msgWebhookURL},
		{"https://hooks.example.com/\x00", false, msgWebhookURL},
		{"https://hooks.example.com:port/", false, msgWebhookURL},
	}
	for _, c := range cases {
		if got := checkWebhookURL(c.url, c.httpsOnly); got != c.want {
			t.Errorf("checkWebhookURL(%.60q, https only %v) = %q, want %q", c.url, c.httpsOnly, got, c.want)
		}
	}
}

func TestValidWebhookEvents(t *testing.T) {
	cases := []struct {
		events []string
		want   bool
	}{
		{[]string{"alert.triggered"}, true},
		{[]string{"alert.triggered", "alert.resolved", "device.offline", "device.online"}, true},
		{nil, false},
		{[]string{}, false},
		{[]string{"alert.triggered", "alert.triggered"}, false},
		{[]string{"ALERT_TRIGGERED"}, false},
		{[]string{"alert.triggered", ""}, false},
		{[]string{"node.provisioned"}, false},
	}
	for _, c := range cases {
		if got := validWebhookEvents(c.events); got != c.want {
			t.Errorf("validWebhookEvents(%q) = %v, want %v", c.events, got, c.want)
		}
	}
}

func TestValidWebhookSecret(t *testing.T) {
	cases := []struct {
		secret string
		want   bool
	}{
		{strings.Repeat("s", 32), true},
		{strings.Repeat("s", 256), true},
		{"0123456789abcdef0123456789abcdef!#$%&'()*+,-./:;<=>?@[]^_`{|}~", true},
		{strings.Repeat("s", 31), false},
		{strings.Repeat("s", 257), false},
		{strings.Repeat("s", 31) + " ", false},
		{strings.Repeat("s", 31) + "\n", false},
		{strings.Repeat("s", 31) + "é", false},
	}
	for _, c := range cases {
		if got := validWebhookSecret(c.secret); got != c.want {
			t.Errorf("validWebhookSecret(%.40q…) = %v, want %v", c.secret, got, c.want)
		}
	}
}

// TestNewWebhookSecret: 64 hex characters, a valid secret, never twice the same.
func TestNewWebhookSecret(t *testing.T) {
	a, err := newWebhookSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newWebhookSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" || !validWebhookSecret(a) || a == b {
		t.Errorf("generated secrets %q and %q", a, b)
	}
}

// TestWebhookJSON: the JSON of a subscription never carries its secret,
// and its events are a list even when none are stored.
func TestWebhookJSON(t *testing.T) {
	out := webhookOf(telemetry.WebhookSubscription{ID: "x", URL: "https://h", Secret: telemetry.SealedSecret{KeyID: "k1", Ciphertext: []byte("sealed")}})
	if out.Events == nil {
		t.Error("events is null")
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(b)
	if strings.Contains(raw, "secret") || strings.Contains(raw, "k1") || strings.Contains(raw, "c2VhbGVk") {
		t.Errorf("the JSON of a subscription shows its secret: %s", raw)
	}
}
