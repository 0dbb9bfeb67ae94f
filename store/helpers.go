package store

import (
	"bytes"
	"fmt"
)

// Validate reports whether ops form a valid Apply: at least one op, known
// kinds, keys of 1..MaxKeyLen bytes appearing once, values within
// MaxValueLen. Store implementations call it first.
func Validate(ops []Op) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: no operations", ErrInvalid)
	}
	seen := make(map[string]struct{}, len(ops))
	for _, op := range ops {
		if err := ValidKey(op.Key); err != nil {
			return err
		}
		if op.Kind < OpPut || op.Kind > OpCheck {
			return fmt.Errorf("%w: unknown operation %d", ErrInvalid, op.Kind)
		}
		if len(op.Value) > MaxValueLen {
			return fmt.Errorf("%w: value of %q exceeds %d bytes", ErrInvalid, op.Key, MaxValueLen)
		}
		if _, dup := seen[op.Key]; dup {
			return fmt.Errorf("%w: key %q appears twice", ErrInvalid, op.Key)
		}
		seen[op.Key] = struct{}{}
	}
	return nil
}

// ValidKey reports whether key is a valid key: 1..MaxKeyLen bytes.
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key length %d", ErrInvalid, len(key))
	}
	return nil
}

// Conditions checks every op's condition against the current live values,
// which get returns (ok false: absent or expired). It returns a
// *ConflictError for the first condition that fails, or nil. Stores call
// it inside their transaction, before writing anything.
func Conditions(ops []Op, get func(key string) (value []byte, ok bool)) error {
	for _, op := range ops {
		var holds bool
		switch op.Kind {
		case OpPut, OpDelete:
			holds = true
		case OpInsert:
			_, ok := get(op.Key)
			holds = !ok
		case OpSwap, OpDeleteIf:
			cur, ok := get(op.Key)
			holds = ok && bytes.Equal(cur, op.Old)
		case OpCheck:
			cur, ok := get(op.Key)
			if op.Old == nil {
				holds = !ok
			} else {
				holds = ok && bytes.Equal(cur, op.Old)
			}
		}
		if !holds {
			return &ConflictError{Key: op.Key, Kind: op.Kind}
		}
	}
	return nil
}

// Writes reports whether op changes its key when its condition holds.
func (op Op) Writes() bool { return op.Kind != OpCheck }

// Deletes reports whether op removes its key.
func (op Op) Deletes() bool { return op.Kind == OpDelete || op.Kind == OpDeleteIf }
