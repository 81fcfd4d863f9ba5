package machiavelli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Value is a JSON value whose object key order and int/float distinction are kept, so that
// annotations, sums of annotations and stats print as the reference (Python's json) prints
// them.
type Value struct {
	// Keys and Fields hold an object; Num and IsInt a number; IsNull null.
	Keys   []string
	Fields map[string]*Value
	Num    float64
	IsInt  bool
	IsNull bool
	IsBool bool
	Bool   bool
	Str    *string
}

// Get follows a path of object keys; a missing key is nil.
func (v *Value) Get(path ...string) *Value {
	for _, k := range path {
		if v == nil || v.Fields == nil {
			return nil
		}
		v = v.Fields[k]
	}
	return v
}

// Number is the value of a number at path (0 when absent).
func (v *Value) Number(path ...string) float64 {
	x := v.Get(path...)
	if x == nil {
		return 0
	}
	if x.IsBool {
		if x.Bool {
			return 1
		}
		return 0
	}
	return x.Num
}

// IsObject reports whether v is a JSON object.
func (v *Value) IsObject() bool { return v != nil && v.Fields != nil }

// addValues is the reference's add_annotations: numbers added, objects with equal key sets
// added key by key.
func addValues(a, b *Value) (*Value, error) {
	if a.IsObject() != b.IsObject() {
		return nil, fmt.Errorf("cannot add an object and a number")
	}
	if !a.IsObject() {
		if a.Str != nil || b.Str != nil || a.IsNull || b.IsNull {
			return nil, fmt.Errorf("cannot add non-numbers")
		}
		x, y := a.Number(), b.Number()
		return &Value{Num: x + y, IsInt: (a.IsInt || a.IsBool) && (b.IsInt || b.IsBool)}, nil
	}
	if len(a.Keys) != len(b.Keys) {
		return nil, fmt.Errorf("annotation keys differ: %v vs %v", a.Keys, b.Keys)
	}
	out := &Value{Keys: append([]string(nil), a.Keys...), Fields: map[string]*Value{}}
	for _, k := range a.Keys {
		bk, ok := b.Fields[k]
		if !ok {
			return nil, fmt.Errorf("annotation keys differ: %v vs %v", a.Keys, b.Keys)
		}
		s, err := addValues(a.Fields[k], bk)
		if err != nil {
			return nil, err
		}
		out.Fields[k] = s
	}
	return out, nil
}

// UnmarshalJSON decodes keeping key order and number kinds.
func (v *Value) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	x, err := decodeValue(dec)
	if err != nil {
		return err
	}
	*v = *x
	return nil
}

func decodeValue(dec *json.Decoder) (*Value, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		if x == '{' {
			v := &Value{Fields: map[string]*Value{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				c, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := v.Fields[k]; !dup {
					v.Keys = append(v.Keys, k)
				}
				v.Fields[k] = c
			}
			_, err := dec.Token()
			return v, err
		}
		return nil, fmt.Errorf("arrays are not supported in annotations")
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			n, err := strconv.ParseInt(s, 10, 64)
			if err == nil {
				return &Value{Num: float64(n), IsInt: true}, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		return &Value{Num: f}, err
	case bool:
		return &Value{IsBool: true, Bool: x}, nil
	case string:
		return &Value{Str: &x}, nil
	case nil:
		return &Value{IsNull: true}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", t)
}

// MarshalJSON writes v as Python's json.dumps would (floats always with a decimal part).
func (v *Value) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	v.write(&b)
	return b.Bytes(), nil
}

func (v *Value) write(b *bytes.Buffer) {
	switch {
	case v == nil || v.IsNull:
		b.WriteString("null")
	case v.Fields != nil:
		b.WriteByte('{')
		for i, k := range v.Keys {
			if i > 0 {
				b.WriteString(", ")
			}
			ks, _ := json.Marshal(k)
			b.Write(ks)
			b.WriteString(": ")
			v.Fields[k].write(b)
		}
		b.WriteByte('}')
	case v.IsBool:
		if v.Bool {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case v.Str != nil:
		s, _ := json.Marshal(*v.Str)
		b.Write(s)
	case v.IsInt:
		b.WriteString(strconv.FormatInt(int64(v.Num), 10))
	default:
		b.WriteString(jsonFloat(v.Num))
	}
}

// jsonFloat formats a float as Python's json module does (NaN, Infinity, repr otherwise).
func jsonFloat(f float64) string {
	s := pyFloatRepr(f)
	switch s {
	case "nan":
		return "NaN"
	case "inf":
		return "Infinity"
	case "-inf":
		return "-Infinity"
	}
	return s
}

// PyNumber is a number that marshals as Python's json does: ints without, floats with a
// decimal part.
type PyNumber struct {
	F     float64
	IsInt bool
}

// MarshalJSON implements json.Marshaler.
func (n PyNumber) MarshalJSON() ([]byte, error) {
	if n.IsInt {
		return []byte(strconv.FormatInt(int64(n.F), 10)), nil
	}
	return []byte(jsonFloat(n.F)), nil
}

// valueOf converts a player value (int64, float64, bool) to a Value.
func valueOf(x any) *Value {
	switch t := x.(type) {
	case int64:
		return &Value{Num: float64(t), IsInt: true}
	case float64:
		return &Value{Num: t}
	case bool:
		return &Value{IsBool: true, Bool: t}
	}
	return &Value{Num: 0, IsInt: true}
}
