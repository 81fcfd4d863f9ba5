// The Python builtins and math functions a game expression may call.

package machiavelli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// builtins are the Python builtins and math names a game expression may call.
var builtins = map[string]any{}

func init() {
	one := func(name string, f func(a any) (any, error)) {
		builtins[name] = &builtinFunc{name: name, fn: func(args []any) (any, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("takes exactly one argument (%d given)", len(args))
			}
			return f(args[0])
		}}
	}
	one("round_to_int", pyRound)
	builtins["round"] = &builtinFunc{name: "round", fn: func(args []any) (any, error) {
		if len(args) == 1 {
			return pyRound(args[0])
		}
		if len(args) == 2 {
			nd, err := pyInt(args[1])
			if err != nil {
				return nil, err
			}
			if i, ok := args[0].(int64); ok && nd >= 0 {
				return i, nil
			}
			f := toFloat(args[0])
			s := strconv.FormatFloat(f, 'f', int(max(nd, 0)), 64) // correctly rounded like CPython
			r, _ := strconv.ParseFloat(s, 64)
			return r, nil
		}
		return nil, errors.New("takes 1 or 2 arguments")
	}}
	one("str", func(a any) (any, error) { return pyStr(a), nil })
	one("int", func(a any) (any, error) { return pyInt(a) })
	one("float", func(a any) (any, error) { return pyFloat(a) })
	one("bool", func(a any) (any, error) { return truthy(a), nil })
	one("len", func(a any) (any, error) {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("object of type '%s' has no len()", typeName(a))
		}
		return int64(len([]rune(s))), nil
	})
	one("abs", func(a any) (any, error) {
		n, ok := numeric(a)
		if !ok {
			return nil, fmt.Errorf("bad operand type for abs(): '%s'", typeName(a))
		}
		if i, ok := n.(int64); ok {
			if i < 0 {
				return -i, nil
			}
			return i, nil
		}
		return math.Abs(n.(float64)), nil
	})
	minmax := func(name string, less bool) {
		builtins[name] = &builtinFunc{name: name, fn: func(args []any) (any, error) {
			if len(args) == 0 {
				return nil, errors.New("expected at least 1 argument")
			}
			best := args[0]
			for _, a := range args[1:] {
				c, err := compare("<", a, best)
				if !less {
					c, err = compare(">", a, best)
				}
				if err != nil {
					return nil, err
				}
				if c {
					best = a
				}
			}
			return best, nil
		}}
	}
	minmax("min", true)
	minmax("max", false)
	one("floor", func(a any) (any, error) {
		f, err := pyFloat(a)
		return int64(math.Floor(f)), err
	})
	one("ceil", func(a any) (any, error) {
		f, err := pyFloat(a)
		return int64(math.Ceil(f)), err
	})
	one("sqrt", func(a any) (any, error) {
		f, err := pyFloat(a)
		return math.Sqrt(f), err
	})
	builtins["pi"] = math.Pi
	builtins["e"] = math.E
	builtins["inf"] = math.Inf(1)
	builtins["nan"] = math.NaN()
}
