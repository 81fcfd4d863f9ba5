// The render budget of the chat-template sandbox (sandbox.go): steps, stack depth, output
// and the size of every value an operator, filter or method builds.

package tokenize

import (
	"fmt"
	"reflect"
	"runtime"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// renderBudget is one render's account.
type renderBudget struct {
	failed               error // the first budget exceeded: sticky, since gonja swallows some errors (self.block())
	steps, output, alloc int64
	baseFrames           int
	pcs                  []uintptr
}

func (b *renderBudget) fail(err error) error {
	if b.failed == nil {
		b.failed = err
	}
	return err
}

func (b *renderBudget) step() error {
	if b.failed != nil {
		return b.failed
	}
	if b.steps++; b.steps > maxRenderSteps {
		return b.fail(fmt.Errorf("%w: more than %d steps (loop iterations, calls and branches)", errBudget, maxRenderSteps))
	}
	return nil
}

func (b *renderBudget) checkDepth() error {
	if n := runtime.Callers(0, b.pcs); n-b.baseFrames >= maxStackFrames {
		return b.fail(fmt.Errorf("%w: recursion deeper than %d stack frames", errBudget, maxStackFrames))
	}
	return nil
}

func (b *renderBudget) write(n int) error {
	if b.output += int64(n); b.output > maxRenderOutput {
		return b.fail(fmt.Errorf("%w: output over %d bytes", errBudget, maxRenderOutput))
	}
	return nil
}

func (b *renderBudget) build(what string, n int64) error {
	if n > maxRenderValue {
		return b.fail(fmt.Errorf("%w: %s would build a value of about %d bytes, over the limit of %d", errBudget, what, n, maxRenderValue))
	}
	if b.alloc += n; b.alloc > maxRenderAlloc {
		return b.fail(fmt.Errorf("%w: values built by the template over %d bytes in all", errBudget, maxRenderAlloc))
	}
	return nil
}

func budgetOf(ctx *exec.Context) (*renderBudget, error) {
	v, _ := ctx.Get(budgetKey)
	b, ok := v.(*renderBudget)
	if !ok {
		return nil, fmt.Errorf("%w: no budget in the render context", errBudget)
	}
	return b, nil
}

// valueSize estimates the bytes of a value (strings and containers, recursively, bounded).
func valueSize(x any, depth int) int64 {
	if depth > 32 {
		return maxRenderValue + 1 // too deep (or cyclic) to be a chat message
	}
	switch v := x.(type) {
	case nil:
		return 0
	case *exec.Value:
		if v == nil {
			return 0
		}
		return valueSize(v.Interface(), depth)
	case string:
		return int64(len(v))
	case []any:
		n := int64(len(v))
		for _, e := range v {
			if n += valueSize(e, depth+1); n > maxRenderValue {
				return n
			}
		}
		return n
	case map[string]any:
		n := int64(len(v))
		for k, e := range v {
			if n += int64(len(k)) + valueSize(e, depth+1); n > maxRenderValue {
				return n
			}
		}
		return n
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		n := int64(rv.Len())
		for i := 0; i < rv.Len() && n <= maxRenderValue; i++ {
			n += valueSize(rv.Index(i).Interface(), depth+1)
		}
		return n
	case reflect.Map:
		n := int64(rv.Len())
		it := rv.MapRange()
		for it.Next() && n <= maxRenderValue {
			n += valueSize(it.Key().Interface(), depth+1) + valueSize(it.Value().Interface(), depth+1)
		}
		return n
	case reflect.String:
		return int64(rv.Len())
	}
	return 8
}

func count(v *exec.Value) int64 {
	if v == nil || (!v.IsList() && !v.IsDict() && !v.IsString()) {
		return 1
	}
	return int64(v.Len()) + 1
}

// argsCost is the size of the arguments, counting integers as widths.
func argsCost(va *exec.VarArgs) (size, widths int64) {
	if va == nil {
		return 0, 0
	}
	all := append([]*exec.Value{}, va.Args...)
	for _, v := range va.KwArgs {
		all = append(all, v)
	}
	for _, a := range all {
		if a == nil {
			continue
		}
		if a.IsInteger() || a.IsFloat() {
			f := a.Float()
			if f > 0 {
				widths += int64(min(f, maxRenderValue+1))
			}
			continue
		}
		size += valueSize(a, 0)
	}
	return size, widths
}

// longDigitRun reports whether s holds a run of 7 or more digits (a format width of millions).
func longDigitRun(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if run++; run >= 7 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
