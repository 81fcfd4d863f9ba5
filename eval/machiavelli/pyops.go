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

// binop applies a Python arithmetic operator.
func binop(op string, a, b any) (any, error) {
	if op == "+" {
		if as, ok := a.(string); ok {
			if bs, ok := b.(string); ok {
				return as + bs, nil
			}
		}
	}
	if op == "*" {
		// str * int repeats.
		if as, ok := a.(string); ok {
			if n, ok := numeric(b); ok {
				if i, ok := n.(int64); ok {
					if i < 0 {
						i = 0
					}
					return strings.Repeat(as, int(i)), nil
				}
			}
		}
		if bs, ok := b.(string); ok {
			if n, ok := numeric(a); ok {
				if i, ok := n.(int64); ok {
					if i < 0 {
						i = 0
					}
					return strings.Repeat(bs, int(i)), nil
				}
			}
		}
	}
	na, oka := numeric(a)
	nb, okb := numeric(b)
	if !oka || !okb {
		return nil, fmt.Errorf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(a), typeName(b))
	}
	ia, aInt := na.(int64)
	ib, bInt := nb.(int64)
	if aInt && bInt {
		switch op {
		case "+":
			return ia + ib, nil
		case "-":
			return ia - ib, nil
		case "*":
			return ia * ib, nil
		case "/":
			if ib == 0 {
				return nil, errors.New("division by zero")
			}
			return float64(ia) / float64(ib), nil
		case "//":
			if ib == 0 {
				return nil, errors.New("integer division or modulo by zero")
			}
			return floorDivInt(ia, ib), nil
		case "%":
			if ib == 0 {
				return nil, errors.New("integer division or modulo by zero")
			}
			return ia - floorDivInt(ia, ib)*ib, nil
		case "**":
			// asteval 0.9.28 safe_pow: int base -> float(base) ** exp, truncated to int for an int exp.
			r := math.Pow(float64(ia), float64(ib))
			if math.IsInf(r, 0) || math.IsNaN(r) {
				return nil, errors.New("power overflow")
			}
			if math.Abs(r) < 1<<62 {
				return int64(r), nil
			}
			bf := new(big.Float).SetFloat64(r)
			i, _ := bf.Int64()
			return i, nil
		}
	}
	fa, fb := toFloat(na), toFloat(nb)
	switch op {
	case "+":
		return fa + fb, nil
	case "-":
		return fa - fb, nil
	case "*":
		return fa * fb, nil
	case "/":
		if fb == 0 {
			return nil, errors.New("float division by zero")
		}
		return fa / fb, nil
	case "//":
		if fb == 0 {
			return nil, errors.New("float floor division by zero")
		}
		return math.Floor(fa / fb), nil
	case "%":
		if fb == 0 {
			return nil, errors.New("float modulo")
		}
		return pyModFloat(fa, fb), nil
	case "**":
		r := math.Pow(fa, fb)
		if aInt && !bInt {
			return r, nil
		}
		return r, nil
	}
	return nil, fmt.Errorf("unknown operator %s", op)
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
