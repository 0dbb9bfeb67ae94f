package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/racetest"
	"github.com/magiclink-go/magiclink/store"
)

func TestApplyConditions(t *testing.T) {
	pool := newPool(t)
	v := func(s string) []byte { return []byte(s) }
	never := time.Time{}
	for _, tc := range []struct {
		name string
		op   store.Op
		want string // the value after, "" for absent; "conflict" for a conflict
	}{
		{"put over live", store.Put("live", v("new"), never), "new"},
		{"put absent", store.Put("absent", v("new"), never), "new"},
		{"insert absent", store.Insert("absent", v("new"), never), "new"},
		{"insert over expired", store.Insert("expired", v("new"), never), "new"},
		{"insert over live", store.Insert("live", v("new"), never), "conflict"},
		{"swap matching", store.Swap("live", v("old"), v("new"), never), "new"},
		{"swap other value", store.Swap("live", v("other"), v("new"), never), "conflict"},
		{"swap absent", store.Swap("absent", v("old"), v("new"), never), "conflict"},
		{"swap expired", store.Swap("expired", v("old"), v("new"), never), "conflict"},
		{"delete live", store.Delete("live"), ""},
		{"delete absent", store.Delete("absent"), ""},
		{"delete-if matching", store.DeleteIf("live", v("old")), ""},
		{"delete-if other value", store.DeleteIf("live", v("other")), "conflict"},
		{"delete-if absent", store.DeleteIf("absent", v("old")), "conflict"},
		{"delete-if expired", store.DeleteIf("expired", v("old")), "conflict"},
		{"check matching", store.Check("live", v("old")), "old"},
		{"check other value", store.Check("live", v("other")), "conflict"},
		{"check absent is absent", store.Check("absent", nil), ""},
		{"check expired is absent", store.Check("expired", nil), ""},
		{"check live is absent", store.Check("live", nil), "conflict"},
		{"check absent holds value", store.Check("absent", v("old")), "conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			c := newClock()
			s := newStore(t, pool, c)
			if err := s.Apply(ctx,
				store.Put("live", v("old"), never),
				store.Put("expired", v("old"), c.Now().Add(time.Second)),
			); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
			err := s.Apply(ctx, tc.op)
			if tc.want == "conflict" {
				assertConflict(t, err, tc.op.Key, tc.op.Kind)
				// Nothing changed.
				tc.want = map[string]string{"live": "old"}[tc.op.Key]
			} else if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			got, err := s.Get(ctx, tc.op.Key)
			if errors.Is(err, store.ErrNotFound) {
				got, err = v(""), nil
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("after: %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestConsumeRace: of 64 concurrent DeleteIf of one record, through two
// stores with pools of their own, exactly one succeeds, every time.
func TestConsumeRace(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	s1 := newStore(t, pool, nil)
	s2 := openStore(t, newPoolOn(t, pool), Config{Schema: s1.channel, SweepInterval: -1})
	for round := range 5 {
		key := "token/" + strconv.Itoa(round)
		if err := s1.Apply(ctx, store.Put(key, []byte("flow"), time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		wins, conflicts := outcomes(t, racetest.Run(64, func(i int, start func()) error {
			start()
			return []*Store{s1, s2}[i%2].Apply(ctx, store.DeleteIf(key, []byte("flow")), store.Put("session/"+strconv.Itoa(i), []byte("s"), time.Time{}))
		}))
		if wins != 1 || conflicts != 63 {
			t.Fatalf("round %d: %d wins, %d conflicts; want 1 and 63", round, wins, conflicts)
		}
		items, err := s1.List(ctx, "session/", 0)
		if err != nil || len(items) != 1 {
			t.Fatalf("round %d: sessions %v, %v; want exactly one", round, items, err)
		}
		if err := s1.Apply(ctx, store.Delete(items[0].Key)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInsertRace: of 64 concurrent Inserts of one absent (or expired) key,
// exactly one succeeds.
func TestInsertRace(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	c := newClock()
	s := newStore(t, pool, c)
	for round := range 4 {
		key := "k" + strconv.Itoa(round)
		if round%2 == 1 { // an expired record counts as absent
			if err := s.Apply(ctx, store.Put(key, []byte("old"), c.Now().Add(time.Second))); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
		}
		wins, _ := outcomes(t, racetest.Run(64, func(i int, start func()) error {
			start()
			return s.Apply(ctx, store.Insert(key, []byte(strconv.Itoa(i)), time.Time{}))
		}))
		if wins != 1 {
			t.Fatalf("round %d: %d inserts won, want 1", round, wins)
		}
	}
}

// TestSwapCounter: compare-and-swap increments lose no update.
func TestSwapCounter(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	s := newStore(t, pool, nil)
	if err := s.Apply(ctx, store.Put("n", []byte("0"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	for _, err := range racetest.Run(workers, func(_ int, start func()) error {
		start()
		for done := 0; done < each; {
			cur, err := s.Get(ctx, "n")
			if err != nil {
				return err
			}
			n, _ := strconv.Atoi(string(cur))
			err = s.Apply(ctx, store.Swap("n", cur, []byte(strconv.Itoa(n+1)), time.Time{}))
			switch {
			case err == nil:
				done++
			case !errors.Is(err, store.ErrConflict):
				return err
			}
		}
		return nil
	}) {
		if err != nil {
			t.Error(err)
		}
	}
	if got, err := s.Get(ctx, "n"); err != nil || string(got) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %q, %v; want %d", got, err, workers*each)
	}
}

// TestCheckHoldsUntilCommit: Check is a condition on the state at commit,
// not at the time of the read, so two Applies that each check what the
// other writes cannot both succeed (no write skew), for present values
// (Check(key, old)) and for absent keys (Check(key, nil)) alike.
func TestCheckHoldsUntilCommit(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	s := newStore(t, pool, nil)
	off, on := []byte("off"), []byte("on")
	for round := range 30 {
		x, y := fmt.Sprintf("x%d", round), fmt.Sprintf("y%d", round)
		var first, second []store.Op
		if round%2 == 0 { // at most one of x and y may be on
			if err := s.Apply(ctx, store.Put(x, off, time.Time{}), store.Put(y, off, time.Time{})); err != nil {
				t.Fatal(err)
			}
			first = []store.Op{store.Check(y, off), store.Swap(x, off, on, time.Time{})}
			second = []store.Op{store.Check(x, off), store.Swap(y, off, on, time.Time{})}
		} else { // at most one of x and y may exist
			first = []store.Op{store.Check(y, nil), store.Insert(x, on, time.Time{})}
			second = []store.Op{store.Check(x, nil), store.Insert(y, on, time.Time{})}
		}
		errs := racetest.Run(2, func(i int, start func()) error {
			start()
			return s.Apply(ctx, [][]store.Op{first, second}[i]...)
		})
		for _, err := range errs {
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Fatal(err)
			}
		}
		if errs[0] == nil && errs[1] == nil {
			t.Fatalf("round %d: both Applies succeeded: write skew", round)
		}
	}
	// The claim rows of Check(key, nil) never outlive their transaction.
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+s.channel+".records WHERE expires_at = '-infinity'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("claim rows left: %d, %v", n, err)
	}
}

// TestNoDeadlock: Applies over overlapping keys, listed in random orders,
// end in success or conflict, never in a deadlock error.
func TestNoDeadlock(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	s := newStore(t, pool, nil)
	keys := []string{"a", "b", "c", "d", "e"}
	for _, err := range racetest.Run(8, func(w int, start func()) error {
		r := rand.New(rand.NewPCG(uint64(w), 1))
		start()
		for range 30 {
			var ops []store.Op
			for _, i := range r.Perm(len(keys))[:3] {
				switch r.IntN(4) {
				case 0:
					ops = append(ops, store.Put(keys[i], []byte("v"), time.Time{}))
				case 1:
					ops = append(ops, store.Check(keys[i], nil))
				case 2:
					ops = append(ops, store.DeleteIf(keys[i], []byte("v")))
				default:
					ops = append(ops, store.Insert(keys[i], []byte("v"), time.Time{}))
				}
			}
			if err := s.Apply(ctx, ops...); err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("Apply: %w", err)
			}
		}
		return nil
	}) {
		if err != nil {
			t.Error(err)
		}
	}
}

// outcomes counts the callers that succeeded and those that met a
// conflict, and fails t for any other error.
func outcomes(t *testing.T, errs []error) (wins, conflicts int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrConflict):
			conflicts++
		default:
			t.Errorf("Apply: %v", err)
		}
	}
	return wins, conflicts
}

func TestApplyCanceled(t *testing.T) {
	pool := newPool(t)
	s := newStore(t, pool, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Apply(ctx, store.Put("k", nil, time.Time{})); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a canceled context: %v", err)
	}
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
}
