package magiclink_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
)

// TestAuditTrail reads GET /v1/events: newest first, by user and by
// type, since a time, page by page with the cursor, within the
// retention; bad parameters are 422 and change nothing.
func TestAuditTrail(t *testing.T) {
	s := newTicketServer(t, func(c *magiclink.Config) { c.EventRetention = 2 * time.Hour })
	ctx := context.Background()
	bearer := "Bearer " + sitSecretKey
	ada := s.user(t, "ada@example.com")
	s.clock.Advance(time.Second)
	grace := s.user(t, "grace@example.com")
	var made []string // ada's sign-in token ids, oldest first
	for range 5 {
		s.clock.Advance(time.Second)
		tok, err := s.auth.SignInTokens.Create(ctx, ada.ID, magiclink.SignInTokenParams{})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, tok.ID)
	}
	list := func(query string) (ids []string, types []string, next string) {
		t.Helper()
		status, _, body := s.do(t, nil, "GET", "/v1/events"+query, bearer, nil)
		if status != 200 || body["object"] != "list" {
			t.Fatalf("GET /v1/events%s = %d %v", query, status, body)
		}
		for _, e := range body["data"].([]any) {
			ev := e.(map[string]any)
			data := ev["data"].(map[string]any)
			ids = append(ids, data["id"].(string))
			types = append(types, ev["type"].(string))
		}
		next, _ = body["next_cursor"].(string)
		return ids, types, next
	}

	// Ada's events, newest first, two at a time.
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		q := "?user_id=" + ada.ID + "&limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		ids, _, next := list(q)
		got = append(got, ids...)
		if next == "" {
			break
		}
		cursor = next
		if page > 5 {
			t.Fatal("the cursor does not advance")
		}
	}
	want := []string{made[4], made[3], made[2], made[1], made[0], ada.ID}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ada's events = %v, want %v", got, want)
	}

	// By type, across users; since a time.
	ids, _, _ := list("?type=user.created&limit=10")
	if fmt.Sprint(ids) != fmt.Sprint([]string{grace.ID, ada.ID}) {
		t.Fatalf("user.created = %v", ids)
	}
	since := s.clock.Now().Add(-2 * time.Second).UnixMilli()
	ids, _, _ = list(fmt.Sprintf("?since=%d&limit=500", since))
	if fmt.Sprint(ids) != fmt.Sprint([]string{made[4], made[3], made[2]}) {
		t.Fatalf("since = %v", ids)
	}
	ids, _, _ = list("?user_id=" + grace.ID)
	if fmt.Sprint(ids) != fmt.Sprint([]string{grace.ID}) {
		t.Fatalf("grace's events = %v", ids)
	}

	for _, q := range []string{"?limit=0", "?limit=501", "?limit=x", "?type=user.exploded", "?since=yesterday",
		"?user_id=nobody", "?cursor=evt_zz"} {
		status, _, body := s.do(t, nil, "GET", "/v1/events"+q, bearer, nil)
		if status != http.StatusUnprocessableEntity {
			t.Errorf("GET /v1/events%s = %d %v; want 422", q, status, body)
		}
	}
	if status, _, _ := s.do(t, nil, "GET", "/v1/events", "", nil); status != http.StatusUnauthorized {
		t.Errorf("without the key: %d", status)
	}

	// Past the retention, events are gone from the trail.
	s.clock.Advance(2*time.Hour - 2*time.Second) // the store keeps them longer, for deliveries
	ids, _, _ = list("?limit=500")
	if fmt.Sprint(ids) != fmt.Sprint([]string{made[4], made[3]}) {
		t.Fatalf("after the retention of the oldest = %v", ids)
	}
}
