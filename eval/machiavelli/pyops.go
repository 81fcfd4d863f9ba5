// Python operators on the value model of pyval.go: arithmetic (binop), comparisons and
// equality, with Python 3's semantics for mixed int/float/str/bool operands.

package machiavelli

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

func floorDivInt(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func pyModFloat(a, b float64) float64 {
	m := math.Mod(a, b)
	if m != 0 && ((m < 0) != (b < 0)) {
		m += b
	}
	return m
}

// arithOp is a Python arithmetic operator: its result on two ints, and on two floats (a mixed
// pair is converted to floats first); intZero and floatZero are the messages of the
// ZeroDivisionError it raises on a zero right operand ("" if it raises none).
type arithOp struct {
	ints               func(a, b int64) (any, error)
	floats             func(a, b float64) float64
	intZero, floatZero string
}

var arithOps = map[string]arithOp{
	"+": {ints: func(a, b int64) (any, error) { return a + b, nil }, floats: func(a, b float64) float64 { return a + b }},
	"-": {ints: func(a, b int64) (any, error) { return a - b, nil }, floats: func(a, b float64) float64 { return a - b }},
	"*": {ints: func(a, b int64) (any, error) { return a * b, nil }, floats: func(a, b float64) float64 { return a * b }},
	"/": {
		ints:    func(a, b int64) (any, error) { return float64(a) / float64(b), nil },
		floats:  func(a, b float64) float64 { return a / b },
		intZero: "division by zero", floatZero: "float division by zero",
	},
	"//": {
		ints:    func(a, b int64) (any, error) { return floorDivInt(a, b), nil },
		floats:  func(a, b float64) float64 { return math.Floor(a / b) },
		intZero: "integer division or modulo by zero", floatZero: "float floor division by zero",
	},
	"%": {
		ints:    func(a, b int64) (any, error) { return a - floorDivInt(a, b)*b, nil },
		floats:  pyModFloat,
		intZero: "integer division or modulo by zero", floatZero: "float modulo",
	},
	"**": {ints: intPow, floats: math.Pow},
}

// intPow is asteval 0.9.28's safe_pow on ints: float(base) ** exp, truncated to an int.
func intPow(a, b int64) (any, error) {
	r := math.Pow(float64(a), float64(b))
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return nil, errors.New("power overflow")
	}
	if math.Abs(r) < 1<<62 {
		return int64(r), nil
	}
	i, _ := new(big.Float).SetFloat64(r).Int64()
	return i, nil
}

// repeatStr is Python's str * int (and int * str): s repeated n times, none for n < 0.
func repeatStr(s, n any) (string, bool) {
	str, ok := s.(string)
	if !ok {
		return "", false
	}
	num, _ := numeric(n)
	i, ok := num.(int64)
	if !ok {
		return "", false
	}
	return strings.Repeat(str, int(max(i, 0))), true
}

// binop applies a Python arithmetic operator.
func binop(op string, a, b any) (any, error) {
	switch op {
	case "+":
		if as, ok := a.(string); ok {
			if bs, ok := b.(string); ok {
				return as + bs, nil
			}
		}
	case "*":
		if r, ok := repeatStr(a, b); ok {
			return r, nil
		}
		if r, ok := repeatStr(b, a); ok {
			return r, nil
		}
	}
	na, oka := numeric(a)
	nb, okb := numeric(b)
	if !oka || !okb {
		return nil, fmt.Errorf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(a), typeName(b))
	}
	o, ok := arithOps[op]
	if !ok {
		return nil, fmt.Errorf("unknown operator %s", op)
	}
	if ia, ok := na.(int64); ok {
		if ib, ok := nb.(int64); ok {
			if ib == 0 && o.intZero != "" {
				return nil, errors.New(o.intZero)
			}
			return o.ints(ia, ib)
		}
	}
	fa, fb := toFloat(na), toFloat(nb)
	if fb == 0 && o.floatZero != "" {
		return nil, errors.New(o.floatZero)
	}
	return o.floats(fa, fb), nil
}

// compare applies a Python comparison operator.
func compare(op string, a, b any) (bool, error) {
	if op == "in" || op == "not in" {
		as, ok1 := a.(string)
		bs, ok2 := b.(string)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("'in' needs strings, got %s and %s", typeName(a), typeName(b))
		}
		r := strings.Contains(bs, as)
		if op == "not in" {
			r = !r
		}
		return r, nil
	}
	if op == "is" || op == "is not" {
		r := a == nil && b == nil || pyEqual(a, b) && typeName(a) == typeName(b)
		if op == "is not" {
			r = !r
		}
		return r, nil
	}
	if op == "==" {
		return pyEqual(a, b), nil
	}
	if op == "!=" {
		return !pyEqual(a, b), nil
	}
	var c int
	as, aStr := a.(string)
	bs, bStr := b.(string)
	switch {
	case aStr && bStr:
		c = strings.Compare(as, bs)
	default:
		na, oka := numeric(a)
		nb, okb := numeric(b)
		if !oka || !okb {
			return false, fmt.Errorf("'%s' not supported between instances of '%s' and '%s'", op, typeName(a), typeName(b))
		}
		ia, aInt := na.(int64)
		ib, bInt := nb.(int64)
		if aInt && bInt {
			c = cmp.Compare(ia, ib)
		} else {
			fa, fb := toFloat(na), toFloat(nb)
			if math.IsNaN(fa) || math.IsNaN(fb) {
				return false, nil
			}
			c = cmpFloat(fa, fb)
		}
	}
	switch op {
	case "<":
		return c < 0, nil
	case ">":
		return c > 0, nil
	case "<=":
		return c <= 0, nil
	case ">=":
		return c >= 0, nil
	}
	return false, fmt.Errorf("unknown comparison %s", op)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func pyEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	as, aStr := a.(string)
	bs, bStr := b.(string)
	if aStr || bStr {
		return aStr && bStr && as == bs
	}
	na, oka := numeric(a)
	nb, okb := numeric(b)
	if oka && okb {
		ia, aInt := na.(int64)
		ib, bInt := nb.(int64)
		if aInt && bInt {
			return ia == ib
		}
		return toFloat(na) == toFloat(nb)
	}
	return a == b
}
