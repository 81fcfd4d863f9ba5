// Expression and text evaluation: ChoiceScript expressions rewritten to Python and
// evaluated with the Python value model (pyval.go), and ${}/@{} interpolation in printed text.

package machiavelli

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// checkText is upstream _check_text: a condition evaluated with Python semantics.
func (p *Player) checkText(text string, mustBool bool) (any, error) {
	if strings.Contains(text, "choice_time_stamp") {
		return false, nil
	}
	text = replaceOutsideQuotes(text, []string{"TRUE", "true"}, "True")
	text = pyStrip(replaceOutsideQuotes(text, []string{"FALSE", "false"}, "False"))
	text, err := p.processExp(text, false, true)
	if err != nil {
		return nil, err
	}
	text, err = p.fairmath("None", text)
	if err != nil {
		return nil, err
	}
	res, err := p.userVarsEval(text)
	if err != nil {
		return nil, err
	}
	if mustBool {
		if _, ok := res.(bool); !ok {
			return nil, fmt.Errorf("condition %q is %s, not a bool", text, typeName(res))
		}
	}
	return res, nil
}

// userVarsEval is upstream _process_user_vars: evaluate, and on an unknown name evaluate again
// with every user variable's name lower-cased.
func (p *Player) userVarsEval(text string) (any, error) {
	text = pyStrip(text)
	v, err := evalExpr(text, p)
	if err == nil || len(p.userVars) == 0 || !isNameError(err) {
		if err != nil {
			return nil, fmt.Errorf("evaluating %q: %w", text, err)
		}
		return v, nil
	}
	text = replaceNames(text, p.userVars, true, strings.ToLower)
	v, err = evalExpr(text, p)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", text, err)
	}
	return v, nil
}

var (
	reAchieved = regexp.MustCompile(`choice_achieved_(\w+)`)
	reLength   = regexp.MustCompile(`length\((\w+)\)`)
	reHashIdx  = regexp.MustCompile(`(\w+)#(\w+)`)
	reBrace    = regexp.MustCompile(`\{([^\{\}]+)\}`)
	reParen    = regexp.MustCompile(`\(([^\(]*?)\)`)
)

// subFunc is re.sub with a function that may fail.
func subFunc(re *regexp.Regexp, s string, f func(m []string) (string, error)) (string, error) {
	var ferr error
	out := re.ReplaceAllStringFunc(s, func(x string) string {
		if ferr != nil {
			return x
		}
		r, err := f(re.FindStringSubmatch(x))
		if err != nil {
			ferr = err
			return x
		}
		return r
	})
	return out, ferr
}

// evalExp evaluates text after processExp (with & and the keyword variables).
func (p *Player) evalExp(text string) (any, error) {
	t, err := p.processExp(text, true, true)
	if err != nil {
		return nil, err
	}
	return p.userVarsEval(t)
}

// processExp is upstream _process_exp.
func (p *Player) processExp(text string, processAnd, processKw bool) (string, error) {
	var err error
	if strings.Contains(text, "choice_achieved_") {
		text = reAchieved.ReplaceAllStringFunc(text, func(x string) string {
			m := reAchieved.FindStringSubmatch(x)
			return pyStr(slices.Contains(p.unlocked, m[1]))
		})
	}
	if text, err = p.processText(text); err != nil {
		return "", err
	}
	text = strings.ReplaceAll(text, "=", "==")
	text = strings.ReplaceAll(text, "<==", "<=")
	text = strings.ReplaceAll(text, ">==", ">=")
	text = strings.ReplaceAll(text, "!==", "!=")
	text = strings.ReplaceAll(text, "modulo", "%")
	text = strings.ReplaceAll(text, "^", "**")
	text = strings.ReplaceAll(text, "round(", "round_to_int(")
	text, err = subFunc(reLength, text, func(m []string) (string, error) {
		v, err := evalExpr(m[1], p)
		if err != nil {
			return "", fmt.Errorf("length(%s): %w", m[1], err)
		}
		return strconv.Itoa(len([]rune(pyStr(v)))), nil
	})
	if err != nil {
		return "", err
	}
	if processKw && len(p.src.kwVars) > 0 {
		text = replaceNames(text, p.src.kwVars, false, func(s string) string { return strings.ToLower(s) + "_" })
	}
	text, err = subFunc(reHashIdx, text, func(m []string) (string, error) {
		av, err := p.evalExp(m[1])
		if err != nil {
			return "", err
		}
		bv, err := p.evalExp(m[2])
		if err != nil {
			return "", err
		}
		n, err := pyInt(bv)
		if err != nil {
			return "", err
		}
		c, err := pyIndex(pyStr(av), n-1)
		if err != nil {
			return "", err
		}
		return c.(string), nil
	})
	if err != nil {
		return "", err
	}
	for strings.Contains(text, "{") {
		if !strings.Contains(text, "}") {
			return "", fmt.Errorf("unbalanced braces in %q", text)
		}
		before := text
		text, err = subFunc(reBrace, text, func(m []string) (string, error) {
			addQuote := strings.Contains(m[1], `"`)
			t, err := p.processExp(m[1], true, true)
			if err != nil {
				return "", err
			}
			v, err := p.userVarsEval(strings.ReplaceAll(t, `"`, ""))
			if err != nil {
				return "", err
			}
			if s, ok := v.(string); ok && addQuote {
				return `"` + s + `"`, nil
			}
			return pyStr(v), nil
		})
		if err != nil {
			return "", err
		}
		if text == before {
			return "", fmt.Errorf("cannot resolve braces in %q", text)
		}
	}
	if strings.Contains(text, "&") {
		text = strings.ReplaceAll(strings.ReplaceAll(text, "(", ""), ")", "")
		parts := splitAmpOutsideQuotes(text)
		if processAnd {
			var b strings.Builder
			for _, part := range parts {
				v, err := p.userVarsEval(part)
				if err != nil {
					return "", err
				}
				b.WriteString(pyStr(v))
			}
			text = `"` + b.String() + `"`
		} else {
			text = strings.Join(parts, "+")
		}
	}
	return text, nil
}

// processText is upstream _process_text: ${}, $!{}, $!!{} and @{} interpolation.
func (p *Player) processText(text string) (string, error) {
	for _, key := range []string{"${", "$!{", "$!!{", "@{"} {
		for strings.Contains(text, key) {
			i := strings.Index(text, key) + len(key)
			j, count := 0, 1
			for count > 0 {
				if i+j >= len(text) {
					return "", fmt.Errorf("unbalanced %s} in %q", key, text)
				}
				switch text[i+j] {
				case '{':
					count++
				case '}':
					count--
				}
				j++
			}
			match := text[i : i+j-1]
			var sub string
			var err error
			if key == "@{" {
				sub, err = p.multi(match)
			} else {
				sub, err = p.single(match)
			}
			if err != nil {
				return "", err
			}
			switch key {
			case "$!{":
				sub = pyCapitalize(sub)
			case "$!!{":
				sub = strings.ToUpper(sub)
			}
			text = text[:i-len(key)] + sub + text[i+j:]
		}
	}
	return text, nil
}

func (p *Player) single(match string) (string, error) {
	v := strings.ToLower(match)
	parts := strings.Split(v, "#")
	if len(parts) == 1 {
		r, err := p.checkText(v, false)
		if err != nil {
			return "", err
		}
		return pyStr(r), nil
	}
	if len(parts) != 2 {
		return "", fmt.Errorf("bad ${%s}", match)
	}
	lv, err := p.checkText(parts[1], false)
	if err != nil {
		return "", err
	}
	l, err := pyInt(lv)
	if err != nil {
		return "", err
	}
	x, err := evalExpr(parts[0], p)
	if err != nil {
		return "", fmt.Errorf("evaluating %q: %w", parts[0], err)
	}
	c, err := pyIndex(pyStr(x), l-1)
	if err != nil {
		return "", err
	}
	return c.(string), nil
}

func (p *Player) multi(match string) (string, error) {
	ps := splitIntoParams(match)
	if len(ps) == 0 {
		return "", fmt.Errorf("empty @{}")
	}
	exp := ps[0]
	opts := strings.Split(pyStrip(strings.ReplaceAll(match, exp, "")), "|")
	v, err := p.checkText(exp, false)
	if err != nil {
		return "", err
	}
	var n int64
	if b, ok := v.(bool); ok {
		n = 2
		if b {
			n = 1
		}
	} else if n, err = pyInt(v); err != nil {
		return "", err
	}
	i := n - 1
	if i < 0 {
		i += int64(len(opts))
	}
	if i < 0 || i >= int64(len(opts)) {
		return "", fmt.Errorf("@{%s}: option %d out of range", match, n)
	}
	return opts[i], nil
}
