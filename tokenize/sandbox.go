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
	"runtime"
	"strings"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
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
