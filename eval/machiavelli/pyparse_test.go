package machiavelli

import (
	"reflect"
	"strings"
	"testing"
)

// mapScope is a scope of fixed variables and the builtins, as the player's.
type mapScope map[string]any

func (m mapScope) lookup(name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	v, ok := builtins[name]
	return v, ok
}

// TestEvalExpr checks the evaluator against Python 3 (values computed with CPython; ** on
// two ints follows asteval's safe_pow, which truncates float(base) ** exp to an int).
func TestEvalExpr(t *testing.T) {
	sc := mapScope{"n": int64(7), "s": "ab", "ok": true}
	tests := []struct {
		expr string
		want any
	}{
		{"-7 // 2", int64(-4)},
		{"-7 % 3", int64(2)},
		{"7.5 % -2", -0.5},
		{"7.0 // 2", 3.0},
		{"-7.5 // 2", -4.0},
		{"1 / 2", 0.5},
		{"2 ** 3 ** 2", int64(512)},
		{"2 ** -1", int64(0)},
		{"2 ** 0.5", 1.4142135623730951},
		{"1 - 2 - 3", int64(-4)},
		{"10 // 3 * 3", int64(9)},
		{"2 * 3 % 4", int64(2)},
		{"s * 3", "ababab"},
		{"3 * s", "ababab"},
		{"s * -1", ""},
		{"s + 'c'", "abc"},
		{"ok + 1", int64(2)},
		{"1 or 0", int64(1)},
		{"0 and 1", int64(0)},
		{"0 or 2", int64(2)},
		{"1 and 0", int64(0)},
		{"1 or nosuch", int64(1)}, // short circuit: the unknown name is not evaluated
		{"0 and 1 / 0", int64(0)}, // nor is the division
		{"1 < 2 < 3", true},
		{"3 > 2 > 2", false},
		{"'a' in s and not 'c' in s", true},
		{"n is not None", true},
		{"round(2.5) + len(s)", int64(4)},
		{"s[-1]", "b"},
		{"(n + 1) * 2", int64(16)},
	}
	for _, tt := range tests {
		got, err := evalExpr(tt.expr, sc)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %#v (error %v), want %#v", tt.expr, got, err, tt.want)
		}
	}
}

// Python's error for each failing expression.
func TestEvalExprErrors(t *testing.T) {
	tests := []struct{ expr, msg string }{
		{"1 / 0", "division by zero"},
		{"1 // 0", "integer division or modulo by zero"},
		{"1 % 0", "integer division or modulo by zero"},
		{"1.0 / 0", "float division by zero"},
		{"1.0 // 0", "float floor division by zero"},
		{"1.0 % 0", "float modulo"},
		{"'a' + 1", "unsupported operand type(s) for +: 'str' and 'int'"},
		{"nosuch or 1", "nosuch"},
		{"'a' < 1", "'<' not supported between instances of 'str' and 'int'"},
		{"(1", "invalid syntax"},
		{"len(1 2)", "invalid syntax"},
		{"'ab'[0", "invalid syntax"},
	}
	for _, tt := range tests {
		if _, err := evalExpr(tt.expr, mapScope{}); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error %v, want one containing %q", tt.expr, err, tt.msg)
		}
	}
}
