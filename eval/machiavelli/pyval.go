package machiavelli

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

// Values follow Python's: int64 (Python int), float64, string, bool, nil (None) and
// builtinFunc. The reference evaluates game expressions as Python through asteval, so the
// arithmetic, comparisons and str() here copy Python 3.

type builtinFunc struct {
	name string
	fn   func(args []any) (any, error)
}

// nameError is an unknown name (Python NameError); the player retries lower-cased.
type nameError struct{ name string }

func (e *nameError) Error() string { return fmt.Sprintf("name %q is not defined", e.name) }

func isNameError(err error) bool {
	var ne *nameError
	return errors.As(err, &ne)
}

// pyStr is Python's str().
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return pyFloatRepr(x)
	case string:
		return x
	case *builtinFunc:
		return "<built-in function " + x.name + ">"
	}
	return fmt.Sprint(v)
}

// pyFloatRepr is repr(float): the shortest round-trip digits, fixed notation for exponents
// -4 <= e < 16 with at least one decimal, scientific ("1e-05", "1e+16") otherwise.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	digits := strings.Replace(mant, ".", "", 1)
	sign := ""
	if neg {
		sign = "-"
	}
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es = "-"
			exp = -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case *builtinFunc:
		return "builtin_function_or_method"
	}
	return fmt.Sprintf("%T", v)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	}
	return true
}

// numeric returns v as int64 or float64 (bool counts as int); ok false for other types.
func numeric(v any) (any, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1), true
		}
		return int64(0), true
	case int64, float64:
		return x, true
	}
	return nil, false
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

// pyRound is Python's round(x) with one argument: half to even, int result.
func pyRound(v any) (any, error) {
	n, ok := numeric(v)
	if !ok {
		return nil, fmt.Errorf("type %s doesn't define __round__ method", typeName(v))
	}
	if i, ok := n.(int64); ok {
		return i, nil
	}
	f := n.(float64)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("cannot convert float %s to integer", pyFloatRepr(f))
	}
	return int64(math.RoundToEven(f)), nil
}

// pyInt is Python's int(x).
func pyInt(v any) (int64, error) {
	switch x := v.(type) {
	case bool, int64:
		n, _ := numeric(x)
		return n.(int64), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return 0, fmt.Errorf("cannot convert float %s to integer", pyFloatRepr(x))
		}
		return int64(math.Trunc(x)), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(strings.ReplaceAll(x, "_", "")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid literal for int() with base 10: %q", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("int() argument must be a string or a number, not %s", typeName(v))
}

// pyFloat is Python's float(x).
func pyFloat(v any) (float64, error) {
	switch x := v.(type) {
	case bool, int64, float64:
		return toFloat(x), nil
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		switch s {
		case "inf", "+inf", "infinity":
			return math.Inf(1), nil
		case "-inf", "-infinity":
			return math.Inf(-1), nil
		case "nan", "+nan", "-nan":
			return math.NaN(), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("could not convert string to float: %q", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("float() argument must be a string or a number, not %s", typeName(v))
}

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

// ---- tokenizer and parser ----

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tStr
	tName
	tOp
)

type token struct {
	kind tokKind
	s    string
	val  any
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func tokenizeExpr(src string) ([]token, error) {
	var toks []token
	rs := []rune(src)
	i := 0
	for i < len(rs) {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case unicode.IsDigit(r) || (r == '.' && i+1 < len(rs) && unicode.IsDigit(rs[i+1])):
			j := i
			isFloat := false
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '_') {
				j++
			}
			if j < len(rs) && rs[j] == '.' {
				isFloat = true
				j++
				for j < len(rs) && unicode.IsDigit(rs[j]) {
					j++
				}
			}
			if j < len(rs) && (rs[j] == 'e' || rs[j] == 'E') {
				k := j + 1
				if k < len(rs) && (rs[k] == '+' || rs[k] == '-') {
					k++
				}
				if k < len(rs) && unicode.IsDigit(rs[k]) {
					isFloat = true
					j = k
					for j < len(rs) && unicode.IsDigit(rs[j]) {
						j++
					}
				}
			}
			lit := strings.ReplaceAll(string(rs[i:j]), "_", "")
			if isFloat {
				f, err := strconv.ParseFloat(lit, 64)
				if err != nil {
					return nil, fmt.Errorf("bad number %q", lit)
				}
				toks = append(toks, token{kind: tNum, s: lit, val: f})
			} else {
				n, err := strconv.ParseInt(lit, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bad number %q", lit)
				}
				toks = append(toks, token{kind: tNum, s: lit, val: n})
			}
			i = j
		case r == '"' || r == '\'':
			j := i + 1
			var b strings.Builder
			for j < len(rs) && rs[j] != r {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
					switch rs[j] {
					case 'n':
						b.WriteRune('\n')
					case 't':
						b.WriteRune('\t')
					case '\\', '\'', '"':
						b.WriteRune(rs[j])
					default:
						b.WriteRune('\\')
						b.WriteRune(rs[j])
					}
					j++
					continue
				}
				b.WriteRune(rs[j])
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated string literal in %q", src)
			}
			toks = append(toks, token{kind: tStr, val: b.String()})
			i = j + 1
		case isWordRune(r):
			j := i
			for j < len(rs) && isWordRune(rs[j]) {
				j++
			}
			toks = append(toks, token{kind: tName, s: string(rs[i:j])})
			i = j
		default:
			two := ""
			if i+1 < len(rs) {
				two = string(rs[i : i+2])
			}
			switch two {
			case "**", "//", "==", "!=", "<=", ">=":
				toks = append(toks, token{kind: tOp, s: two})
				i += 2
				continue
			}
			if strings.ContainsRune("+-*/%<>(),[]", r) {
				toks = append(toks, token{kind: tOp, s: string(r)})
				i++
				continue
			}
			return nil, fmt.Errorf("invalid syntax at %q in %q", string(r), src)
		}
	}
	return append(toks, token{kind: tEOF}), nil
}

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
func (p *exprParser) isKw(s string) bool {
	t := p.peek()
	return t.kind == tName && t.s == s
}

// Evaluation is eager; Python's short circuit only matters for errors and side effects, and
// there are no side effects here. Errors in an unevaluated branch are skipped by evaluating
// lazily through a skip flag.

func (p *exprParser) orTest() (any, error) {
	v, err := p.andTest()
	if err != nil {
		return nil, err
	}
	for p.isKw("or") {
		p.next()
		if truthy(v) {
			if err := p.skip(p.andTest); err != nil {
				return nil, err
			}
			continue
		}
		if v, err = p.andTest(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (p *exprParser) andTest() (any, error) {
	v, err := p.notTest()
	if err != nil {
		return nil, err
	}
	for p.isKw("and") {
		p.next()
		if !truthy(v) {
			if err := p.skip(p.notTest); err != nil {
				return nil, err
			}
			continue
		}
		if v, err = p.notTest(); err != nil {
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

type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

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
				if _, null := p.sc.(nullScope); !null {
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

func (p *exprParser) arith() (any, error) {
	v, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		op := p.next().s
		r, err := p.term()
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
		if _, null := p.sc.(nullScope); null {
			return int64(0), nil
		}
	}
	return v, err
}

func (p *exprParser) term() (any, error) {
	v, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") || p.isOp("//") || p.isOp("%") {
		op := p.next().s
		r, err := p.factor()
		if err != nil {
			return nil, err
		}
		if v, err = p.apply(op, v, r); err != nil {
			return nil, err
		}
	}
	return v, nil
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
			if _, null := p.sc.(nullScope); null {
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
				if p.isOp(",") {
					p.next()
					continue
				}
				if !p.isOp(")") {
					return nil, &syntaxError{fmt.Sprintf("invalid syntax in %q", p.src)}
				}
			}
			p.next()
			if _, null := p.sc.(nullScope); null {
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
			if !p.isOp("]") {
				return nil, &syntaxError{fmt.Sprintf("invalid syntax in %q", p.src)}
			}
			p.next()
			if _, null := p.sc.(nullScope); null {
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
			if !p.isOp(")") {
				return nil, &syntaxError{fmt.Sprintf("invalid syntax in %q", p.src)}
			}
			p.next()
			return v, nil
		}
	}
	return nil, &syntaxError{fmt.Sprintf("invalid syntax in %q", p.src)}
}

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
