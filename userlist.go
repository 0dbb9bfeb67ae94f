package magiclink

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Bounds of Users.List.
const (
	DefaultUserListLimit = 10
	MaxUserListLimit     = 500
)

// UserListParams filter and page Users.List and Users.Count, as the
// query of Clerk's GET /users.
type UserListParams struct {
	// EmailAddresses, when not empty, keeps only the users owning one of
	// these verified addresses (found through the address index, not a
	// scan).
	EmailAddresses []string
	// Limit is the page size, 1 to 500; zero means 10. Count ignores it
	// and Offset.
	Limit int
	// Offset skips that many users of the ordered list.
	Offset int
	// OrderBy is created_at, updated_at or last_sign_in_at, with a "-"
	// prefix for descending (a "+" prefix, or none, is ascending);
	// default "-created_at". Ties are ordered by id, so pages are stable.
	OrderBy string
}

// List returns a page of users, in a stable order. Without an address
// filter it reads every user: it is meant for the backend's
// administration, not for a request path.
func (us *Users) List(ctx context.Context, p UserListParams) ([]*User, error) {
	if p.Limit == 0 {
		p.Limit = DefaultUserListLimit
	}
	if p.Limit < 1 || p.Limit > MaxUserListLimit {
		return nil, paramValue("limit", "list_limit")
	}
	if p.Offset < 0 {
		return nil, paramValue("offset", "list_offset")
	}
	recs, err := us.records(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := sortUsers(recs, p.OrderBy); err != nil {
		return nil, err
	}
	recs = recs[min(p.Offset, len(recs)):]
	recs = recs[:min(p.Limit, len(recs))]
	out := make([]*User, 0, len(recs))
	for _, r := range recs {
		u, err := us.a.user(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// Count returns how many users match p's filter.
func (us *Users) Count(ctx context.Context, p UserListParams) (int, error) {
	recs, err := us.records(ctx, p)
	return len(recs), err
}

// records returns the user records matching p's filter, unordered.
func (us *Users) records(ctx context.Context, p UserListParams) ([]*userRec, error) {
	var out []*userRec
	if len(p.EmailAddresses) > 0 {
		seen := map[string]bool{}
		for _, raw := range p.EmailAddresses {
			owner, err := us.a.addressOwner(ctx, raw)
			if err != nil {
				return nil, err
			}
			if owner == nil || seen[owner.UserID] {
				continue
			}
			seen[owner.UserID] = true
			l, err := us.a.loadUser(ctx, owner.UserID)
			if err != nil {
				if AsError(err) != nil {
					continue
				}
				return nil, err
			}
			out = append(out, &l.v)
		}
		return out, nil
	}
	items, err := us.a.st.List(ctx, keyUser, 0)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		r := new(userRec)
		if err := json.Unmarshal(it.Value, r); err != nil {
			return nil, errors.New("magiclink: corrupt record " + it.Key + ": " + err.Error())
		}
		if !r.Deleted {
			out = append(out, r)
		}
	}
	return out, nil
}

// sortUsers orders recs as order_by says.
func sortUsers(recs []*userRec, orderBy string) error {
	// An unescaped "+" in a query string arrives as a space.
	if orderBy = strings.TrimSpace(orderBy); orderBy == "" {
		orderBy = "-created_at"
	}
	desc := strings.HasPrefix(orderBy, "-")
	field := strings.TrimLeft(orderBy, "+-")
	var key func(*userRec) int64
	switch field {
	case "created_at":
		key = func(r *userRec) int64 { return r.CreatedAt }
	case "updated_at":
		key = func(r *userRec) int64 { return r.UpdatedAt }
	case "last_sign_in_at":
		key = func(r *userRec) int64 { return r.LastSignInAt }
	default:
		return paramValue("order_by", "order_by")
	}
	slices.SortFunc(recs, func(x, y *userRec) int {
		c := cmp.Compare(key(x), key(y))
		if c == 0 {
			c = strings.Compare(x.ID, y.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	return nil
}
