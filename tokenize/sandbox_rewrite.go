// The AST rewrite of the chat-template sandbox (sandbox.go): a tick node at the start of
// every body, and operators and output routed through budgeted functions.

package tokenize

import (
	"reflect"
	"unsafe"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// tick is the node put at the start of every body, and before every piece of literal text.
type tick struct {
	tok   *tokens.Token
	depth bool // measure the stack (macro, block, recursive loop bodies)
	text  int  // bytes of literal text that follow (0 for a body start)
}

func (t *tick) Position() *tokens.Token { return t.tok }

func (t *tick) String() string { return "SandboxTick" }

func (t *tick) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	b, err := budgetOf(r.Environment.Context)
	if err != nil {
		return err
	}
	if t.text > 0 {
		return b.write(t.text)
	}
	if err := b.step(); err != nil {
		return err
	}
	if t.depth {
		return b.checkDepth()
	}
	return nil
}

func tickNode(tok *tokens.Token, depth bool, text int) nodes.Node {
	return &nodes.ControlStructureBlock{Location: tok, Name: "sandbox", ControlStructure: &tick{tok: tok, depth: depth, text: text}}
}

// sandboxRewriter rewrites a parsed template in place (see the file comment).
type sandboxRewriter struct {
	seen     map[uintptr]bool
	depthFor map[*nodes.Wrapper]bool
	ops      []*nodes.BinaryExpression
}

func rewriteTemplate(root *nodes.Template) []*nodes.BinaryExpression {
	w := &sandboxRewriter{seen: map[uintptr]bool{}, depthFor: map[*nodes.Wrapper]bool{}}
	for _, m := range root.Macros {
		w.depthFor[m.Wrapper] = true
	}
	for _, b := range root.Blocks {
		w.depthFor[b] = true
	}
	// Macros and recursive loops found anywhere (nested definitions included).
	w.mark(reflect.ValueOf(root))
	w.seen = map[uintptr]bool{}
	root.Nodes = w.body(root.Nodes, nil, false)
	w.walk(reflect.ValueOf(root))
	return w.ops
}

// mark finds the bodies whose entry must measure the stack.
func (w *sandboxRewriter) mark(v reflect.Value) {
	w.visit(v, func(x any) {
		switch n := x.(type) {
		case *nodes.Macro:
			w.depthFor[n.Wrapper] = true
		case *nodes.ControlStructureBlock:
			// A recursive for-loop: its body is re-entered by loop(children).
			cs := reflect.ValueOf(n.ControlStructure)
			if cs.Kind() == reflect.Pointer && cs.Elem().Kind() == reflect.Struct {
				rec := cs.Elem().FieldByName("Recursive")
				body := cs.Elem().FieldByName("BodyWrapper")
				if rec.IsValid() && rec.Kind() == reflect.Bool && rec.Bool() && body.IsValid() {
					if bw, ok := body.Interface().(*nodes.Wrapper); ok {
						w.depthFor[bw] = true
					}
				}
			}
		}
	})
}

// visit calls fn on every pointer reachable from v, once.
func (w *sandboxRewriter) visit(v reflect.Value, fn func(any)) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			w.visit(v.Elem(), fn)
		}
	case reflect.Pointer:
		if v.IsNil() || w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		if v.CanInterface() {
			fn(v.Interface())
		}
		w.visit(v.Elem(), fn)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[tokens.Token]() {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			w.visit(field(v, i), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			w.visit(v.Index(i), fn)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			w.visit(it.Value(), fn)
		}
	}
}

// field returns field i of a struct, settable even when unexported (gonja keeps some bodies,
// e.g. {% filter %}'s, in unexported fields; the rewrite must reach them). Structs reached
// through pointers are addressable.
func field(v reflect.Value, i int) reflect.Value {
	f := v.Field(i)
	if !f.CanSet() && f.CanAddr() {
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	}
	return f
}

// body puts the ticks into a list of nodes.
func (w *sandboxRewriter) body(ns []nodes.Node, loc *tokens.Token, depth bool) []nodes.Node {
	out := make([]nodes.Node, 0, len(ns)+1+len(ns)/2)
	if loc == nil && len(ns) > 0 {
		loc = ns[0].Position()
	}
	if loc == nil {
		loc = &tokens.Token{}
	}
	out = append(out, tickNode(loc, depth, 0))
	for _, n := range ns {
		if d, ok := n.(*nodes.Data); ok && d.Data != nil && len(d.Data.Val) > 0 {
			out = append(out, tickNode(d.Data, false, len(d.Data.Val)))
		}
		out = append(out, n)
	}
	return out
}

// walk rewrites wrappers, outputs and operators reachable from v.
func (w *sandboxRewriter) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem())
		}
	case reflect.Pointer:
		if v.IsNil() || w.seen[v.Pointer()] || !v.CanInterface() {
			return
		}
		w.seen[v.Pointer()] = true
		if wr, ok := v.Interface().(*nodes.Wrapper); ok {
			wr.Nodes = w.body(wr.Nodes, wr.Location, w.depthFor[wr])
		}
		if o, ok := v.Interface().(*nodes.Output); ok {
			w.walk(reflect.ValueOf(o).Elem())
			o.Expression = w.outCall(o.Expression)
			if o.Alternative != nil {
				o.Alternative = w.outCall(o.Alternative)
			}
			return
		}
		w.walk(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[tokens.Token]() {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := field(v, i)
			w.walk(f)
			if f.Kind() == reflect.Interface && f.CanSet() && !f.IsNil() {
				if r := w.replace(f.Interface(), f.Type()); r != nil {
					f.Set(reflect.ValueOf(r))
				}
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			w.walk(e)
			if e.Kind() == reflect.Interface && e.CanSet() && !e.IsNil() {
				if r := w.replace(e.Interface(), e.Type()); r != nil {
					e.Set(reflect.ValueOf(r))
				}
			}
		}
	case reflect.Map:
		it := v.MapRange()
		var keys, vals []reflect.Value
		for it.Next() {
			e := it.Value()
			w.walk(e)
			if e.Kind() == reflect.Interface && !e.IsNil() {
				if r := w.replace(e.Interface(), v.Type().Elem()); r != nil {
					keys, vals = append(keys, it.Key()), append(vals, reflect.ValueOf(r))
				}
			}
		}
		for i := range keys {
			v.SetMapIndex(keys[i], vals[i])
		}
	}
}

// replace returns the guarded form of an operator that builds values, or nil.
func (w *sandboxRewriter) replace(x any, slot reflect.Type) any {
	be, ok := x.(*nodes.BinaryExpression)
	if !ok || be.Operator == nil || be.Operator.Token == nil {
		return nil
	}
	switch be.Operator.Token.Type {
	case tokens.Addition, tokens.Multiply, tokens.Tilde:
	default:
		return nil
	}
	if !reflect.TypeFor[*nodes.Call]().AssignableTo(slot) {
		return nil
	}
	id := len(w.ops)
	tok := be.Operator.Token
	w.ops = append(w.ops, &nodes.BinaryExpression{
		Left:     &nodes.Name{Name: &tokens.Token{Type: tokens.Name, Val: sandboxPrefix + "_l", Line: tok.Line, Col: tok.Col}},
		Right:    &nodes.Name{Name: &tokens.Token{Type: tokens.Name, Val: sandboxPrefix + "_r", Line: tok.Line, Col: tok.Col}},
		Operator: be.Operator,
	})
	return &nodes.Call{
		Location: tok,
		Func:     &nodes.Name{Name: &tokens.Token{Type: tokens.Name, Val: opFunc, Line: tok.Line, Col: tok.Col}},
		Args:     []nodes.Expression{&nodes.Integer{Location: tok, Val: id}, be.Left, be.Right},
		Kwargs:   map[string]nodes.Expression{},
	}
}

func (w *sandboxRewriter) outCall(e nodes.Expression) nodes.Expression {
	tok := e.Position()
	if tok == nil {
		tok = &tokens.Token{}
	}
	return &nodes.Call{
		Location: tok,
		Func:     &nodes.Name{Name: &tokens.Token{Type: tokens.Name, Val: outFunc, Line: tok.Line, Col: tok.Col}},
		Args:     []nodes.Expression{e},
		Kwargs:   map[string]nodes.Expression{},
	}
}
