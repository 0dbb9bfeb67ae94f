package store

import "context"

// RangeLister is implemented by stores that can start a listing at a
// given key, so that a long prefix can be read page by page. It is
// optional: ListFrom falls back to List.
type RangeLister interface {
	// ListFrom is List restricted to the keys not before from.
	ListFrom(ctx context.Context, prefix, from string, limit int) ([]Item, error)
}

// ListFrom returns the live records whose keys start with prefix and are
// not before from, in key order, at most limit of them (limit <= 0: all).
// It uses st's ListFrom when st is a RangeLister, and otherwise lists the
// whole prefix and skips.
func ListFrom(ctx context.Context, st Store, prefix, from string, limit int) ([]Item, error) {
	if from <= prefix {
		return st.List(ctx, prefix, limit)
	}
	if rl, ok := st.(RangeLister); ok {
		return rl.ListFrom(ctx, prefix, from, limit)
	}
	items, err := st.List(ctx, prefix, 0)
	if err != nil {
		return nil, err
	}
	i := 0
	for i < len(items) && items[i].Key < from {
		i++
	}
	items = items[i:]
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	return items, nil
}
