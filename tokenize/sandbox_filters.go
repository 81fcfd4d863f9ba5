// The filters, string methods and range() a sandboxed chat template may use (sandbox.go),
// each guarded by the render budget.

package tokenize

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
)

var sandboxFilters = func() *exec.FilterSet {
	names := []string{"abs", "attr", "batch", "capitalize", "center", "default", "d", "dictsort", "e", "escape",
		"filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "join", "items",
		"last", "length", "count", "list", "lower", "map", "max", "min", "pprint", "random", "rejectattr", "reject",
		"replace", "reverse", "round", "safe", "selectattr", "select", "slice", "sort", "string", "striptags", "sum",
		"title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"}
	m := map[string]exec.FilterFunction{}
	for _, name := range names {
		f, ok := builtins.Filters.Get(name)
		if !ok {
			continue
		}
		m[name] = guardFilter(name, f)
	}
	return exec.NewFilterSet(m)
}()

func guardFilter(name string, f exec.FilterFunction) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		b, err := budgetOf(e.Environment.Context)
		if err != nil {
			return exec.AsValue(err)
		}
		size, widths := argsCost(params)
		est := valueSize(in, 0) + count(in)*size + widths
		if name == "format" && in != nil && in.IsString() && longDigitRun(in.String()) {
			est = maxRenderValue + 1
		}
		if err := b.build("filter "+name, est); err != nil {
			return exec.AsValue(err)
		}
		return f(e, in, params)
	}
}

var sandboxStrMethods = func() *exec.MethodSet[string] {
	names := []string{"capitalize", "capwords", "casefold", "center", "count", "encode", "endswith", "expandtabs",
		"find", "format", "format_map", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower",
		"isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition",
		"removeprefix", "removesuffix", "replace", "rfind", "rjust", "rpartition", "rsplit", "rstrip", "split",
		"splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill"}
	m := map[string]exec.Method[string]{}
	for _, name := range names {
		f, ok := builtins.Methods.Str.Get(name)
		if !ok {
			continue
		}
		m[name] = func(self string, selfValue *exec.Value, args *exec.VarArgs) (any, error) {
			size, widths := argsCost(args)
			est := (int64(len(self))+1)*(size+1) + widths
			if name == "expandtabs" {
				est += int64(strings.Count(self, "\t")) * widths
			}
			if (name == "format" || name == "format_map") && longDigitRun(self) {
				est = maxRenderValue + 1
			}
			if est > maxRenderValue {
				return nil, fmt.Errorf("%w: str.%s would build a value of about %d bytes, over the limit of %d", errBudget, name, est, maxRenderValue)
			}
			return f(self, selfValue, args)
		}
	}
	return exec.NewMethodSet(m)
}()

// sandboxRange is range() with Python's semantics, materialised and bounded.
func sandboxRange(va *exec.VarArgs) *exec.Value {
	start, stop, step := 0, 0, 1
	ints := make([]int, len(va.Args))
	for i, a := range va.Args {
		if !a.IsInteger() {
			return exec.AsValue(errors.New("range: arguments must be integers"))
		}
		ints[i] = a.Integer()
	}
	switch len(ints) {
	case 1:
		stop = ints[0]
	case 2:
		start, stop = ints[0], ints[1]
	case 3:
		start, stop, step = ints[0], ints[1], ints[2]
	default:
		return exec.AsValue(errors.New("range: expected signature is [start, ]stop[, step]"))
	}
	if step == 0 {
		return exec.AsValue(errors.New("range: step cannot be 0"))
	}
	var n int64
	if step > 0 && stop > start {
		n = (int64(stop)-int64(start)-1)/int64(step) + 1
	} else if step < 0 && stop < start {
		n = (int64(start)-int64(stop)-1)/int64(-step) + 1
	}
	if n > maxRangeItems || n < 0 {
		return exec.AsValue(fmt.Errorf("%w: range of %d items, over the limit of %d", errBudget, n, maxRangeItems))
	}
	out := make([]any, n)
	for i := range out {
		out[i] = start + i*step
	}
	return exec.AsValue(out)
}
