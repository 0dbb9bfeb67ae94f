package magiclink

import (
	"encoding/json"
	"testing"
)

// The queues' records keep their stored form: an entry written by an
// earlier version is read whole and, written back, is the same bytes.
func TestQueueRecordFormat(t *testing.T) {
	for _, c := range []struct {
		raw string
		rec any
	}{
		{`{"flow":"sua/sua_1","kind":"sign_up","send_id":"s1","attempts":2,"next_at":3,"lease_until":4,"owner":"p","created_at":1,"last_error":"e"}`, &outboxRec{}},
		{`{"flow":"notice/","kind":"new_sign_in","send_id":"","attempts":0,"next_at":3,"created_at":1,"notice":{"user_id":"user_1","to":"a@example.com","at":5}}`, &outboxRec{}},
		{`{"attempts":2,"next_at":3,"lease_until":4,"owner":"p","created_at":1,"last_error":"e"}`, &deliveryRec{}},
	} {
		if err := json.Unmarshal([]byte(c.raw), c.rec); err != nil {
			t.Fatal(err)
		}
		if got := string(encode(c.rec)); got != c.raw {
			t.Errorf("written back as\n%s\nwant\n%s", got, c.raw)
		}
	}
}
