// The recursive-descent evaluator of game expressions: it parses and evaluates a Python
// expression in one pass over the tokens of pylex.go (or/and/not, comparisons, arithmetic,
// calls and indexing), in a scope of game variables.

package machiavelli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Evaluation is eager; Python's short circuit only matters for errors and side effects, and
// there are no side effects here. Errors in an unevaluated branch are skipped by evaluating
// lazily through a skip flag.

// scope resolves names.
type scope interface {
	lookup(name string) (any, bool)
}

type exprParser struct {
	toks []token
	pos  int
	sc   scope
	src  string
}

// evalExpr evaluates a Python expression over sc; an empty expression is None.
func evalExpr(src string, sc scope) (any, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	toks, err := tokenizeExpr(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks, sc: sc, src: src}
	v, err := p.orTest()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, fmt.Errorf("invalid syntax in %q", src)
	}
	return v, nil
}

func (p *exprParser) peek() token { return p.toks[p.pos] }

func (p *exprParser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func (p *exprParser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.s == s
}

// expect consumes the operator s, which must come next.
func (p *exprParser) expect(s string) error {
	if !p.isOp(s) {
		return p.syntaxError()
	}
	p.next()
	return nil
}

func (p *exprParser) isKw(s string) bool {
	t := p.peek()
	return t.kind == tName && t.s == s
}

func (p *exprParser) orTest() (any, error) { return p.boolOp("or", true, p.andTest) }

func (p *exprParser) andTest() (any, error) { return p.boolOp("and", false, p.notTest) }

// boolOp parses operand (kw operand)* for Python's or (decided by the first truthy operand,
// decides = true) and and (decided by the first falsy one): its value is the deciding operand,
// or the last; the operands after the deciding one are parsed but not evaluated.
func (p *exprParser) boolOp(kw string, decides bool, operand func() (any, error)) (any, error) {
	v, err := operand()
	if err != nil {
		return nil, err
	}
	for p.isKw(kw) {
		p.next()
		if truthy(v) == decides {
			if err := p.skip(operand); err != nil {
				return nil, err
			}
			continue
		}
		if v, err = operand(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// skip parses a sub-expression without reporting evaluation errors (short circuit).
func (p *exprParser) skip(f func() (any, error)) error {
	sc := p.sc
	p.sc = nullScope{}
	defer func() { p.sc = sc }()
	_, err := f()
	if err != nil && isSyntaxErr(err) {
		return err
	}
	return nil
}

type nullScope struct{}

func (nullScope) lookup(string) (any, bool) { return int64(0), true }

// skipping reports whether the parser is in an operand that a short circuit skips.
func (p *exprParser) skipping() bool {
	_, null := p.sc.(nullScope)
	return null
}

type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

// syntaxError is the SyntaxError of the expression.
func (p *exprParser) syntaxError() error {
	return &syntaxError{fmt.Sprintf("invalid syntax in %q", p.src)}
}

func isSyntaxErr(err error) bool {
	var se *syntaxError
	return errors.As(err, &se)
}

func (p *exprParser) notTest() (any, error) {
	if p.isKw("not") {
		p.next()
		v, err := p.notTest()
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	}
	return p.comparison()
}

func (p *exprParser) compOp() string {
	t := p.peek()
	if t.kind == tOp {
		switch t.s {
		case "==", "!=", "<", ">", "<=", ">=":
			return t.s
		}
	}
	if t.kind == tName {
		switch t.s {
		case "in":
			return "in"
		case "is":
			if n := p.toks[p.pos+1]; n.kind == tName && n.s == "not" {
				return "is not"
			}
			return "is"
		case "not":
			if n := p.toks[p.pos+1]; n.kind == tName && n.s == "in" {
				return "not in"
			}
		}
	}
	return ""
}

func (p *exprParser) comparison() (any, error) {
	left, err := p.arith()
	if err != nil {
		return nil, err
	}
	op := p.compOp()
	if op == "" {
		return left, nil
	}
	result := true
	for op != "" {
		p.pos += len(strings.Fields(op))
		right, err := p.arith()
		if err != nil {
			return nil, err
		}
		if result {
			ok, err := compare(op, left, right)
			if err != nil {
				if !p.skipping() {
					return nil, err
				}
			}
			result = ok
		}
		left = right
		op = p.compOp()
	}
	return result, nil
}

func (p *exprParser) arith() (any, error) { return p.leftAssoc(p.term, "+", "-") }

func (p *exprParser) term() (any, error) { return p.leftAssoc(p.factor, "*", "/", "//", "%") }

// leftAssoc parses operand (op operand)* for the left-associative operators ops.
func (p *exprParser) leftAssoc(operand func() (any, error), ops ...string) (any, error) {
	v, err := operand()
	if err != nil {
		return nil, err
	}
	for slices.ContainsFunc(ops, p.isOp) {
		op := p.next().s
		r, err := operand()
		if err != nil {
			return nil, err
		}
		if v, err = p.apply(op, v, r); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (p *exprParser) apply(op string, a, b any) (any, error) {
	v, err := binop(op, a, b)
	if err != nil {
		if p.skipping() {
			return int64(0), nil
		}
	}
	return v, err
}

func (p *exprParser) factor() (any, error) {
	if p.isOp("-") || p.isOp("+") {
		op := p.next().s
		v, err := p.factor()
		if err != nil {
			return nil, err
		}
		n, ok := numeric(v)
		if !ok {
			if p.skipping() {
				return int64(0), nil
			}
			return nil, fmt.Errorf("bad operand type for unary %s: '%s'", op, typeName(v))
		}
		if op == "+" {
			return n, nil
		}
		if i, ok := n.(int64); ok {
			return -i, nil
		}
		return -n.(float64), nil
	}
	return p.power()
}

func (p *exprParser) power() (any, error) {
	v, err := p.atomTrailers()
	if err != nil {
		return nil, err
	}
	if p.isOp("**") {
		p.next()
		r, err := p.factor()
		if err != nil {
			return nil, err
		}
		return p.apply("**", v, r)
	}
	return v, nil
}

func (p *exprParser) atomTrailers() (any, error) {
	v, err := p.atom()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("("):
			p.next()
			var args []any
			for !p.isOp(")") {
				a, err := p.orTest()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			if p.skipping() {
				v = int64(0)
				continue
			}
			f, ok := v.(*builtinFunc)
			if !ok {
				return nil, fmt.Errorf("'%s' object is not callable", typeName(v))
			}
			if v, err = f.fn(args); err != nil {
				return nil, fmt.Errorf("%s(): %w", f.name, err)
			}
		case p.isOp("["):
			p.next()
			idx, err := p.orTest()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			if p.skipping() {
				v = int64(0)
				continue
			}
			if v, err = pyIndex(v, idx); err != nil {
				return nil, err
			}
		default:
			return v, nil
		}
	}
}

func pyIndex(v, idx any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("'%s' object is not subscriptable", typeName(v))
	}
	n, ok := numeric(idx)
	i, isInt := n.(int64)
	if !ok || !isInt {
		return nil, fmt.Errorf("string indices must be integers")
	}
	rs := []rune(s)
	if i < 0 {
		i += int64(len(rs))
	}
	if i < 0 || i >= int64(len(rs)) {
		return nil, errors.New("string index out of range")
	}
	return string(rs[i]), nil
}

func (p *exprParser) atom() (any, error) {
	t := p.next()
	switch t.kind {
	case tNum:
		return t.val, nil
	case tStr:
		s := t.val.(string)
		for p.peek().kind == tStr { // implicit concatenation
			s += p.next().val.(string)
		}
		return s, nil
	case tName:
		switch t.s {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return nil, nil
		case "and", "or", "not", "in", "is", "if", "else", "lambda", "for", "import", "def", "class", "return", "while", "with", "del", "pass", "yield", "global", "from", "as", "assert", "break", "continue", "elif", "except", "finally", "raise", "try", "nonlocal", "await", "async":
			return nil, &syntaxError{fmt.Sprintf("invalid syntax at %q in %q", t.s, p.src)}
		}
		v, ok := p.sc.lookup(t.s)
		if !ok {
			return nil, &nameError{t.s}
		}
		return v, nil
	case tOp:
		if t.s == "(" {
			v, err := p.orTest()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
	return nil, p.syntaxError()
}
