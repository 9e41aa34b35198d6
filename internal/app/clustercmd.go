package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/cluster"
	"github.com/evaratech/evara/internal/config"
)

const (
	// clusterStatusTimeout bounds the whole call: the member answers within
	// its own per-member deadline, and an operator is waiting at a prompt.
	clusterStatusTimeout = 10 * time.Second
	// maxStatsBody caps what is read of an answer (a few hundred bytes per
	// member, so thousands of members fit).
	maxStatsBody = 8 << 20
	// idWidth is how much of a long member id the table shows.
	idWidth = 12
)

// clusterStatus runs `evara cluster status`: it asks the member at
// cfg.StatusURL for GET /api/v1/cluster/stats and prints the answer as a
// table, or as indented JSON with --json.
func clusterStatus(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, clusterStatusTimeout)
	defer cancel()
	stats, body, err := fetchClusterStats(ctx, cfg.StatusURL, cfg.StatusToken.Reveal())
	if err != nil {
		return err
	}
	if cfg.JSON {
		// The body as the member sent it, indented: it was checked to be
		// cluster stats, and fields a newer member adds are not dropped.
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			return err
		}
		out.WriteByte('\n')
		_, err := out.WriteTo(stdout)
		return err
	}
	return writeClusterTable(stdout, stats)
}

// fetchClusterStats GETs the stats of the member at base and returns them
// decoded and as received.
func fetchClusterStats(ctx context.Context, base, token string) (cluster.Stats, []byte, error) {
	var stats cluster.Stats
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return stats, nil, fmt.Errorf("--url %q is not an http(s) URL of a member", base)
	}
	endpoint := u.JoinPath("/api/v1/cluster/stats").String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return stats, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// A transport of its own, closed on return: a one-shot command leaves
	// no idle connection behind.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return stats, nil, fmt.Errorf("%s did not answer within %s", endpoint, clusterStatusTimeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return stats, nil, fmt.Errorf("cannot reach %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatsBody+1))
	if err != nil {
		return stats, nil, fmt.Errorf("reading the answer of %s: %w", endpoint, err)
	}
	if len(body) > maxStatsBody {
		return stats, nil, fmt.Errorf("%s answered more than %d bytes", endpoint, maxStatsBody)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return stats, nil, fmt.Errorf("%w; the stats are a superadmin's: set EVARA_STATUS_TOKEN to one's bearer token (evara token --sub <id>, after evara users promote)",
			answerError(endpoint, resp.Status, body))
	default:
		return stats, nil, answerError(endpoint, resp.Status, body)
	}
	if err := json.Unmarshal(body, &stats); err != nil {
		return stats, nil, fmt.Errorf("%s did not answer with cluster stats: %w", endpoint, err)
	}
	return stats, body, nil
}

// answerError describes a non-200 answer: with the server's detail when
// the body has the API's error shape, else with the start of the body.
func answerError(endpoint, status string, body []byte) error {
	var p api.Problem
	if json.Unmarshal(body, &p) == nil && p.Detail != "" {
		return fmt.Errorf("%s answered %s: %s (code %s, correlation id %s)", endpoint, status, p.Detail, orDash(p.Code), orDash(p.CorrelationID))
	}
	text := []rune(strings.TrimSpace(string(body)))
	if len(text) > 200 {
		text = append(text[:200], '…')
	}
	if len(text) == 0 {
		return fmt.Errorf("%s answered %s", endpoint, status)
	}
	return fmt.Errorf("%s answered %s: %s", endpoint, status, string(text))
}

// writeClusterTable prints one row per member, a TOTAL row and the members
// that did not answer.
func writeClusterTable(w io.Writer, s cluster.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := []string{
		"ID", "ADDRESS", "STATUS", "UPTIME", "DEVICES", "SESSIONS", "MAILBOX MAX/P99",
		"BREAKERS CLOSED/OPEN/HALF", "SHARE", "RATE", "TOKENS", "WAITING", "STRETCH",
		"UPSTREAM/MIN OK/FAILED/429", "RESTARTS", "DEAD LETTERS",
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	var rate float64
	for _, m := range s.Members {
		rate += m.Limiter.Rate
		fmt.Fprintln(tw, strings.Join(memberRow(m), "\t"))
	}
	fmt.Fprintln(tw, strings.Join(totalRow(s.Totals, rate), "\t"))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Unreachable) > 0 {
		_, err := fmt.Fprintf(w, "unreachable (no answer in time): %s\n", strings.Join(s.Unreachable, ", "))
		return err
	}
	return nil
}

func memberRow(m cluster.MemberStats) []string {
	l, u, b := m.Limiter, m.Upstream, m.Breakers
	return []string{
		shortID(m.ID), m.Address, m.Status,
		humanDuration(time.Duration(m.UptimeSeconds * float64(time.Second))),
		itoa(m.DeviceActors), itoa(m.Sessions),
		itoa(m.Mailbox.Max) + "/" + itoa(m.Mailbox.P99),
		itoa(b.Closed) + "/" + itoa(b.Open) + "/" + itoa(b.HalfOpen),
		ftoa(l.Share, 1), ftoa(l.Rate, 1), ftoa(l.Tokens, 1), itoa(l.Waiting), ftoa(l.Stretch, 2),
		itoa(u.OKPerMinute) + "/" + itoa(u.FailedPerMinute) + "/" + itoa(u.RateLimitedPerMinute),
		itoa(m.Restarts), itoa(m.DeadLetters),
	}
}

// totalRow sums the members; rate is the sum of their current rates, which
// Totals does not carry. Per-member figures that do not add up (uptime,
// tokens, stretch, p99) are left out.
func totalRow(t cluster.Totals, rate float64) []string {
	b, u := t.Breakers, t.Upstream
	return []string{
		"TOTAL", fmt.Sprintf("%d members", t.Members), "-", "-",
		itoa(t.DeviceActors), itoa(t.Sessions), itoa(t.MailboxMax) + "/-",
		itoa(b.Closed) + "/" + itoa(b.Open) + "/" + itoa(b.HalfOpen),
		ftoa(t.Share, 1), ftoa(rate, 1), "-", itoa(t.Waiting), "-",
		itoa(u.OKPerMinute) + "/" + itoa(u.FailedPerMinute) + "/" + itoa(u.RateLimitedPerMinute),
		itoa(t.Restarts), itoa(t.DeadLetters),
	}
}

// shortID keeps the start of a long member id, enough to tell members apart.
func shortID(id string) string {
	if r := []rune(id); len(r) > idWidth {
		return string(r[:idWidth]) + "…"
	}
	return orDash(id)
}

// humanDuration rounds d to its two largest units: 3d4h, 5h12m, 12m30s, 45s.
func humanDuration(d time.Duration) string {
	d = max(0, d.Round(time.Second))
	const day = 24 * time.Hour
	switch {
	case d >= day:
		return fmt.Sprintf("%dd%dh", d/day, d%day/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func ftoa(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
