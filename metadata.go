package magiclink

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMetadataSize bounds each of a user's metadata objects, encoded as
// JSON: 8 KiB, as Clerk's.
const MaxMetadataSize = 8 << 10

// Metadata is one of a user's metadata objects (public, private or
// unsafe): any JSON object. Numbers decode as json.Number, so they come
// back exactly as they were given.
//
// Who may see and change each one follows Clerk's rules: public metadata
// is readable by the user and the backend and writable by the backend;
// private metadata is the backend's alone (the Frontend API never shows
// it); unsafe metadata is readable and writable by the user.
type Metadata = map[string]any

// encodeMetadata validates m as the metadata named param and returns its
// stored form; an empty object is stored as nothing.
func encodeMetadata(param string, m Metadata) (json.RawMessage, error) {
	if len(m) == 0 {
		return nil, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, paramInvalid(param, "param_object")
	}
	if len(raw) > MaxMetadataSize {
		return nil, metadataTooLarge(param)
	}
	return raw, nil
}

// decodeMetadata returns stored metadata as a Metadata, never nil.
func decodeMetadata(raw json.RawMessage) Metadata {
	m := Metadata{}
	if len(raw) == 0 {
		return m
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return Metadata{}
	}
	return m
}

// metadataParam reads the metadata parameter name from a request: a JSON
// object, or null for an empty one. ok is false when it is absent.
func (p params) metadata(name string) (m Metadata, ok bool, err error) {
	v, present := p[name]
	if !present {
		return nil, false, nil
	}
	if v == nil {
		return Metadata{}, true, nil
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		return nil, false, paramInvalid(name, "param_object")
	}
	return obj, true, nil
}

// mergeMetadata deep-merges patch into base, as Clerk's metadata
// update: a key whose patch value is null is removed, two objects merge
// key by key, anything else replaces. Neither argument is modified.
func mergeMetadata(base, patch Metadata) Metadata {
	out := make(Metadata, len(base)+len(patch))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		if po, ok := v.(map[string]any); ok {
			if bo, ok := out[k].(map[string]any); ok {
				out[k] = mergeMetadata(bo, po)
				continue
			}
			out[k] = mergeMetadata(nil, po) // nulls inside a new object are dropped too
			continue
		}
		out[k] = v
	}
	return out
}

// maxNameLen bounds first_name and last_name, in bytes.
const maxNameLen = 256

// checkName validates a first or last name: at most 256 bytes of UTF-8
// without control or invisible format characters. Surrounding spaces are
// trimmed.
func checkName(param, s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxNameLen || !utf8.ValidString(s) {
		return "", paramInvalid(param, "param_name")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf) {
			return "", paramInvalid(param, "param_name")
		}
	}
	return s, nil
}
