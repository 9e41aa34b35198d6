package ws

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestAuthentication(t *testing.T) {
	h := newHarness(t, Options{AuthTimeout: 200 * time.Millisecond}, 0)
	tests := []struct {
		name      string
		query     string
		protocols []string
		first     string // the first message, if any
		wantClose websocket.StatusCode
		wantProto string
	}{
		{name: "query token", query: "?token=good-ann"},
		{name: "token as the protocol", protocols: []string{"good-ann"}, wantProto: "good-ann"},
		{name: "token as the last protocol", protocols: []string{"bearer", "good-ann"}, wantProto: "good-ann"},
		{name: "first message", first: `{"type":"auth","token":"good-ann"}`},
		{name: "bad query token", query: "?token=forged", wantClose: CloseUnauthorized},
		{name: "bad protocol token", protocols: []string{"forged"}, wantProto: "forged", wantClose: CloseUnauthorized},
		{name: "bad first-message token", first: `{"type":"auth","token":"forged"}`, wantClose: CloseUnauthorized},
		{name: "first message is not auth", first: `{"type":"subscribe","topic":"node:n1"}`, wantClose: CloseUnauthorized},
		{name: "first message is garbage", first: `hello`, wantClose: CloseUnauthorized},
		{name: "no auth at all", wantClose: CloseAuthTimeout},
		// A token that cannot be checked now is not called invalid.
		{name: "token not checkable", query: "?token=store-down", wantClose: websocket.StatusTryAgainLater},
		{name: "first-message token not checkable", first: `{"type":"auth","token":"store-down"}`, wantClose: websocket.StatusTryAgainLater},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opened := len(h.sessions.all())
			cl, _ := h.dial(t, tt.query, tt.protocols...)
			if got := cl.c.Subprotocol(); got != tt.wantProto {
				t.Errorf("protocol echoed: %q, want %q", got, tt.wantProto)
			}
			if tt.first != "" {
				cl.sendRaw(tt.first)
			}
			if tt.wantClose != 0 {
				cl.expectClose(tt.wantClose)
				if n := len(h.sessions.all()); n != opened {
					t.Errorf("a refused connection opened a session")
				}
				return
			}
			cl.subscribe("node:n1")
			ss := h.sessions.all()
			if len(ss) != opened+1 || ss[len(ss)-1].id.UserID != "ann" {
				t.Fatalf("session not opened for ann: %+v", ss)
			}
		})
	}
}

func TestUpgradeRefusals(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	httpURL := "http" + h.url[len("ws"):]
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, httpURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: %d, want 426", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, resp, err = websocket.Dial(ctx, h.url+"?token=good-ann", nil)
	if err == nil {
		t.Fatal("upgrade accepted after Shutdown")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade after Shutdown: %v, want 503", resp)
	}
}

func TestSessionsUnavailable(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	h.sessions.mu.Lock()
	h.sessions.fail = true
	h.sessions.mu.Unlock()
	cl := h.connect(t, "ann")
	cl.expectClose(closeTryLater)
}
