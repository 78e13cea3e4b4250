// Package jsonmsg writes msgpack values, as Python's u-msgpack packs them,
// in JSON and reads them back: the notation of examples/call, examples/bench
// and the project's recorded Python values (rpcudp/testdata/python-values.json).
//
// A JSON string is a str, a whole number an integer (uint64 above
// MaxInt64), a number with a fraction or exponent a float, true/false,
// null (None), an array an array, an object a map with str keys. Other
// values are small objects:
//
//	{"bin": "00ff62696e"}           bytes (bin), in hex
//	{"float": "3"}                  a float written as a string: "3", "-0.0", "inf", "nan"
//	{"map": [[1, "a"], ["b", 2]]}   a map with keys of any type
//
// Marshal writes a decoded value the same way: a bin as {"bin": hex}, a map
// whose keys are not all strings as {"map": [[key, value], ...]} sorted by
// key, a float always with a decimal point (or as {"float": "inf"}).
package jsonmsg

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// Parse reads one JSON value into the Go value that packs (with rpcudp)
// as the matching Python value.
func Parse(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value (quote the argument)")
	}
	return fromJSON(v)
}

func fromJSON(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		return number(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			var err error
			if out[i], err = fromJSON(x); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		return fromObject(v)
	}
	return v, nil // string, bool, nil
}

// number is a whole number as an integer (uint64 above MaxInt64), any
// other as a float64.
func number(n json.Number) (any, error) {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
	}
	return strconv.ParseFloat(s, 64)
}

// fromObject reads an object: one of the notations, or a map of str keys.
func fromObject(m map[string]any) (any, error) {
	if len(m) == 1 {
		for k, x := range m {
			if s, ok := x.(string); ok && k == "bin" {
				b, err := hex.DecodeString(s)
				if err != nil {
					return nil, fmt.Errorf(`{"bin": ...} must be hex: %w`, err)
				}
				return b, nil
			}
			if s, ok := x.(string); ok && k == "float" {
				return strconv.ParseFloat(s, 64)
			}
			if pairs, ok := x.([]any); ok && k == "map" {
				return fromPairs(pairs)
			}
		}
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		var err error
		if out[k], err = fromJSON(x); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fromPairs reads {"map": [[k, v], ...]}: a bin key becomes an
// rpcudp.Bin, which packs as bin.
func fromPairs(pairs []any) (any, error) {
	out := make(map[any]any, len(pairs))
	for _, p := range pairs {
		kv, ok := p.([]any)
		if !ok || len(kv) != 2 {
			return nil, errors.New(`{"map": ...} takes [key, value] pairs`)
		}
		k, err := fromJSON(kv[0])
		if err != nil {
			return nil, err
		}
		switch key := k.(type) {
		case []byte:
			k = rpcudp.Bin(key)
		case []any, map[string]any, map[any]any:
			return nil, fmt.Errorf("map key %v: an array or map cannot be a key", kv[0])
		}
		if out[k], err = fromJSON(kv[1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FormatReply decodes a reply and writes it as one line of JSON.
func FormatReply(r rpcudp.Reply) (string, error) {
	var v any
	if err := r.Decode(&v); err != nil {
		return "", err
	}
	return Format(v)
}

// Format writes a decoded value (as rpcudp decodes into an any) as one
// line of JSON.
func Format(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(toJSON(v)); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// jsonFloat prints a float with a decimal point, so that it reads back as
// a float; a value JSON cannot hold as Python writes it: {"float": "inf"},
// "-inf", "nan".
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	x := float64(f)
	switch {
	case math.IsNaN(x):
		return []byte(`{"float":"nan"}`), nil
	case math.IsInf(x, 1):
		return []byte(`{"float":"inf"}`), nil
	case math.IsInf(x, -1):
		return []byte(`{"float":"-inf"}`), nil
	}
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return []byte(s), nil
}

// toJSON turns a decoded reply into what encoding/json prints in the
// command's notation.
func toJSON(v any) any {
	switch v := v.(type) {
	case []byte:
		return map[string]string{"bin": hex.EncodeToString(v)}
	case rpcudp.Bin:
		return map[string]string{"bin": hex.EncodeToString([]byte(v))}
	case float32:
		return jsonFloat(v)
	case float64:
		return jsonFloat(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toJSON(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = toJSON(x)
		}
		return out
	case map[any]any:
		return map[string]any{"map": pairs(v)}
	}
	return v
}

// pairs lists a map's pairs, sorted by the key's JSON.
func pairs(m map[any]any) [][2]any {
	out := make([][2]any, 0, len(m))
	for k, x := range m {
		out = append(out, [2]any{toJSON(k), toJSON(x)})
	}
	key := func(p [2]any) string { b, _ := json.Marshal(p[0]); return string(b) }
	slices.SortFunc(out, func(a, b [2]any) int { return strings.Compare(key(a), key(b)) })
	return out
}
