package machiavelli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Values follow Python's: int64 (Python int), float64, string, bool, nil (None) and
// builtinFunc. The reference evaluates game expressions as Python through asteval, so the
// arithmetic, comparisons and str() here copy Python 3.

type builtinFunc struct {
	name string
	fn   func(args []any) (any, error)
}

// nameError is an unknown name (Python NameError); the player retries lower-cased.
type nameError struct{ name string }

func (e *nameError) Error() string { return fmt.Sprintf("name %q is not defined", e.name) }

func isNameError(err error) bool {
	var ne *nameError
	return errors.As(err, &ne)
}

// pyStr is Python's str().
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return pyFloatRepr(x)
	case string:
		return x
	case *builtinFunc:
		return "<built-in function " + x.name + ">"
	}
	return fmt.Sprint(v)
}

// pyFloatRepr is repr(float): the shortest round-trip digits, fixed notation for exponents
// -4 <= e < 16 with at least one decimal, scientific ("1e-05", "1e+16") otherwise.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	digits := strings.Replace(mant, ".", "", 1)
	sign := ""
	if neg {
		sign = "-"
	}
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es = "-"
			exp = -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case *builtinFunc:
		return "builtin_function_or_method"
	}
	return fmt.Sprintf("%T", v)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	}
	return true
}

// numeric returns v as int64 or float64 (bool counts as int); ok false for other types.
func numeric(v any) (any, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1), true
		}
		return int64(0), true
	case int64, float64:
		return x, true
	}
	return nil, false
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

// pyRound is Python's round(x) with one argument: half to even, int result.
func pyRound(v any) (any, error) {
	n, ok := numeric(v)
	if !ok {
		return nil, fmt.Errorf("type %s doesn't define __round__ method", typeName(v))
	}
	if i, ok := n.(int64); ok {
		return i, nil
	}
	f := n.(float64)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("cannot convert float %s to integer", pyFloatRepr(f))
	}
	return int64(math.RoundToEven(f)), nil
}

// pyInt is Python's int(x).
func pyInt(v any) (int64, error) {
	switch x := v.(type) {
	case bool, int64:
		n, _ := numeric(x)
		return n.(int64), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return 0, fmt.Errorf("cannot convert float %s to integer", pyFloatRepr(x))
		}
		return int64(math.Trunc(x)), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(strings.ReplaceAll(x, "_", "")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid literal for int() with base 10: %q", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("int() argument must be a string or a number, not %s", typeName(v))
}

// pyFloat is Python's float(x).
func pyFloat(v any) (float64, error) {
	switch x := v.(type) {
	case bool, int64, float64:
		return toFloat(x), nil
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		switch s {
		case "inf", "+inf", "infinity":
			return math.Inf(1), nil
		case "-inf", "-infinity":
			return math.Inf(-1), nil
		case "nan", "+nan", "-nan":
			return math.NaN(), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("could not convert string to float: %q", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("float() argument must be a string or a number, not %s", typeName(v))
}
