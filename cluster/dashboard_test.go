package cluster

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"veil/internal/chromium"
)

func TestTheDashboardShowsTheMembersLiveAndANewCoordinatorAfterAFailure(t *testing.T) {
	ctx := chromium.Context(t)
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	watch := c.NotCoordinator(coord)

	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+watch.APIAddr()+"/ui/")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	chromium.WaitText(t, ctx, "#coordinator", 10*time.Second, "the coordinator", func(s string) bool { return s == coord.Name() })
	rows := chromium.WaitText(t, ctx, "#members tbody", 10*time.Second, "three alive members", func(s string) bool {
		return strings.Count(s, "alive") == 3
	})
	for _, n := range c.Nodes {
		if !strings.Contains(rows, n.Name()) {
			t.Fatalf("members table %q lacks %s", rows, n.Name())
		}
	}

	// The operator makes the coordinator fail from the page, with the
	// admin token; the page then shows another coordinator and the event.
	var result string
	if err := chromedp.Do(ctx,
		chromedp.SetValue("#fail-node", coord.Name()),
		chromedp.SetValue("#fail-for", "8"),
		chromedp.SendKeys("#fail-token", AdminToken(c.Key)),
		chromedp.Click("#fail button"),
	); err != nil {
		t.Fatalf("submit the failure form: %v", err)
	}
	result = chromium.WaitText(t, ctx, "#fail-result", 10*time.Second, "the failure accepted", func(s string) bool { return strings.Contains(s, "failing") })
	if !strings.Contains(result, coord.Name()) {
		t.Fatalf("result %q does not name %s", result, coord.Name())
	}
	chromium.WaitText(t, ctx, "#coordinator", 20*time.Second, "a new coordinator", func(s string) bool {
		return s != coord.Name() && s != "none known" && s != "–"
	})
	chromium.WaitText(t, ctx, "#events", 5*time.Second, "the failure in the events", func(s string) bool {
		return strings.Contains(s, coord.Name()+" is failing on purpose")
	})
}

func TestTheDashboardRefusesAFailureWithoutTheAdminToken(t *testing.T) {
	c := NewTestCluster(t, 1, nil)
	n := c.WaitCoordinator(20 * time.Second)
	r := call(t, "POST", "http://"+n.APIAddr()+"/v1/admin/fail?node="+n.Name()+"&for=5s", nil, map[string]string{"Authorization": "Bearer wrong"})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("fail with a wrong token: %d %s", r.status, r.body)
	}
	page := call(t, "GET", "http://"+n.APIAddr()+"/ui/", nil, nil)
	if page.status != http.StatusOK || !strings.Contains(page.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page: %d, CSP %q", page.status, page.header.Get("Content-Security-Policy"))
	}
	if n.State() != StateActive {
		t.Fatalf("node is %s after a refused failure", n.State())
	}
}
