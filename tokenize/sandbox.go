package tokenize

// The chat-template sandbox.
//
// transformers renders chat templates in jinja2's ImmutableSandboxedEnvironment with no loader;
// valora renders them with gonja, which has neither a sandbox nor any budget, so this file adds
// one around it. Nothing a template does may end the process, read a file or run without bound:
//
//   - No file system: the template is compiled with a loader that serves only the template itself;
//     {% include %}, {% import %}, {% from %} and {% extends %} of anything else are errors.
//   - Parse depth: gonja's parser and evaluator are recursive, and a Go stack overflow is fatal
//     (not a recoverable panic), so the token stream is checked before parsing: nesting of
//     brackets, of block tags and runs of unary operators are bounded (maxTemplateNesting).
//   - Run-time recursion: macros, blocks (self.name()) and recursive for-loops are the only ways
//     a template recurses. gonja offers no hook into calls, so after parsing the AST is rewritten:
//     a "tick" node is put at the start of every body (macro, block, loop, if branch...). A tick
//     counts one step (maxRenderSteps) and, at the start of a macro, block or recursive loop body,
//     measures the real depth of the Go stack (runtime.Callers with a bounded buffer) against
//     maxStackFrames, far below the fatal limit. Measuring the stack rather than counting
//     enter/leave pairs is exact even when {% break %}, {% continue %} or an error leaves a body
//     early.
//   - Memory: every {{ expression }} and every piece of literal text is charged to an output
//     budget (maxRenderOutput) before it is written, in the root output and in the buffers macros
//     render into. The operators that build values (+, ~, *) are rewritten into a call that
//     checks the size of the result before gonja computes it (so "a" * 1000000000 is refused
//     before any allocation), every filter and string method is checked against the size of its
//     input and arguments, and range() is bounded. The sizes are charged to an allocation budget
//     (maxRenderAlloc).
//
// Each render gets its own budget, put into the render's context under names the template cannot
// spell (templates mentioning them are refused).

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"unsafe"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Budgets of the chat-template sandbox.
const (
	maxTemplateSource  = 1 << 20   // bytes of template text
	maxTemplateTokens  = 1 << 18   // lexer tokens
	maxTemplateNesting = 100       // brackets, block tags, unary operator runs
	maxRenderSteps     = 250_000   // bodies entered (loop iterations, macro calls, branches)
	maxStackFrames     = 4096      // Go stack frames below a render (recursion depth)
	maxRenderOutput    = 16 << 20  // bytes written, root output and macro buffers together
	maxRenderValue     = 16 << 20  // size of any one value an operator, filter or method builds
	maxRenderAlloc     = 256 << 20 // bytes built by operators, filters and methods together
	maxRangeItems      = 1_000_000 // items of range()
	sandboxPrefix      = "__valora_sandbox"
	budgetKey          = sandboxPrefix + "_budget"
	opFunc             = sandboxPrefix + "_op"
	outFunc            = sandboxPrefix + "_out"
)

// errBudget marks a sandbox budget being exceeded.
var errBudget = errors.New("sandbox budget exceeded")

// noLoader serves only the template itself: there is no file system behind it.
type noLoader struct {
	name string
	src  []byte
}

func (l *noLoader) Read(id string) (io.Reader, error) {
	if id == l.name {
		return strings.NewReader(string(l.src)), nil
	}
	return nil, fmt.Errorf("cannot load %q: chat templates are rendered without a loader (no include, import or extends)", id)
}

func (l *noLoader) Resolve(id string) (string, error) {
	if id == l.name {
		return id, nil
	}
	return "", fmt.Errorf("cannot load %q: chat templates are rendered without a loader (no include, import or extends)", id)
}

func (l *noLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

// checkTemplateSource bounds what the recursive parser will see.
func checkTemplateSource(src string, cfg *config.Config) error {
	if len(src) > maxTemplateSource {
		return fmt.Errorf("template is %d bytes, over the limit of %d", len(src), maxTemplateSource)
	}
	if strings.Contains(src, sandboxPrefix) {
		return fmt.Errorf("template uses the reserved name %s", sandboxPrefix)
	}
	s := tokens.LexAll(src, cfg)
	brackets, blocks, unary, n := 0, 0, 0, 0
	inBlock, first, assigned := false, false, false
	var head string
	for !s.End() {
		tok := s.Next()
		if n++; n > maxTemplateTokens {
			return fmt.Errorf("template has more than %d tokens", maxTemplateTokens)
		}
		switch tok.Type {
		case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
			brackets++
		case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
			brackets--
		case tokens.BlockBegin:
			inBlock, first, assigned, head = true, true, false, ""
			continue
		case tokens.Assign:
			assigned = true
		case tokens.BlockEnd:
			if inBlock {
				switch head {
				case "for", "if", "macro", "call", "filter", "with", "block", "autoescape", "trans", "raw":
					blocks++
				case "set":
					if !assigned {
						blocks++
					}
				default:
					if strings.HasPrefix(head, "end") {
						blocks--
					}
				}
			}
			inBlock = false
		}
		if inBlock && first {
			head, first = tok.Val, false
		}
		if tok.Type == tokens.Not || tok.Type == tokens.Subtraction || tok.Type == tokens.Addition {
			unary++
		} else {
			unary = 0
		}
		if brackets > maxTemplateNesting || blocks > maxTemplateNesting || unary > maxTemplateNesting {
			return fmt.Errorf("template nests deeper than %d at line %d (brackets %d, blocks %d, operator run %d)",
				maxTemplateNesting, tok.Line, brackets, blocks, unary)
		}
	}
	return nil
}

// renderBudget is one render's account.
type renderBudget struct {
	failed               error // the first budget exceeded: sticky, since gonja swallows some errors (self.block())
	steps, output, alloc int64
	baseFrames           int
	ops                  []*nodes.BinaryExpression
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

// tick is the node put at the start of every body, and before every piece of literal text.
type tick struct {
	tok   *tokens.Token
	depth bool // measure the stack (macro, block, recursive loop bodies)
	text  int  // bytes of literal text that follow (0 for a body start)
}

func (t *tick) Position() *tokens.Token { return t.tok }
func (t *tick) String() string          { return "SandboxTick" }
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

var (
	nodeType       = reflect.TypeFor[nodes.Node]()
	expressionType = reflect.TypeFor[nodes.Expression]()
)

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

// renderContext is the per-render context: the data, the budget and the guarded functions.
func (ct *chatTemplate) renderContext(data map[string]any, b *renderBudget) *exec.Context {
	ctx := exec.NewContext(data)
	ctx.Set(budgetKey, b)
	ctx.Set(outFunc, func(va *exec.VarArgs) *exec.Value {
		if len(va.Args) != 1 {
			return exec.AsValue(errors.New("sandbox: output takes one value"))
		}
		v := va.Args[0]
		n := int64(0)
		if v.IsString() {
			n = int64(v.Len())
		} else {
			n = valueSize(v, 0)
		}
		if n > maxRenderOutput {
			return exec.AsValue(fmt.Errorf("%w: output over %d bytes", errBudget, maxRenderOutput))
		}
		if err := b.write(int(n)); err != nil {
			return exec.AsValue(err)
		}
		return v
	})
	ctx.Set(opFunc, func(e *exec.Evaluator, va *exec.VarArgs) *exec.Value {
		if len(va.Args) != 3 || !va.Args[0].IsInteger() {
			return exec.AsValue(errors.New("sandbox: malformed operator call"))
		}
		id := va.Args[0].Integer()
		if id < 0 || id >= len(ct.ops) {
			return exec.AsValue(errors.New("sandbox: unknown operator"))
		}
		node := ct.ops[id]
		l, r := va.Args[1], va.Args[2]
		var est int64
		switch node.Operator.Token.Type {
		case tokens.Multiply:
			switch {
			case (l.IsString() || l.IsList()) && r.IsInteger():
				est = valueSize(l, 0) * max(int64(r.Integer()), 0)
			case (r.IsString() || r.IsList()) && l.IsInteger():
				est = valueSize(r, 0) * max(int64(l.Integer()), 0)
			}
			if est < 0 { // overflow
				est = maxRenderValue + 1
			}
		default:
			est = valueSize(l, 0) + valueSize(r, 0)
		}
		if err := b.build("operator "+node.Operator.Token.Val, est); err != nil {
			return exec.AsValue(err)
		}
		sub := e.Environment.Context.Inherit()
		sub.Set(sandboxPrefix+"_l", l)
		sub.Set(sandboxPrefix+"_r", r)
		ev := &exec.Evaluator{Environment: &exec.Environment{
			Context: sub, Filters: e.Environment.Filters, Tests: e.Environment.Tests,
			ControlStructures: e.Environment.ControlStructures, Methods: e.Environment.Methods,
		}, Config: e.Config, Loader: e.Loader}
		return ev.Eval(node)
	})
	return ctx
}

// render executes the template within a fresh budget.
func (ct *chatTemplate) render(data map[string]any) (string, error) {
	b := &renderBudget{pcs: make([]uintptr, maxStackFrames+64)}
	b.baseFrames = runtime.Callers(0, b.pcs)
	var out strings.Builder
	err := ct.tpl.Execute(&out, ct.renderContext(data, b))
	if b.failed != nil {
		return "", b.failed
	}
	if err != nil {
		return "", err
	}
	return out.String(), nil
}
