// Game variables: *set with fairmath operators (upstream _set_var, _fairmath) and
// *temp bookkeeping.

package machiavelli

import (
	"fmt"
	"strings"
)

// fairmath is upstream _fairmath.
func (p *Player) fairmath(name, val string) (string, error) {
	val = pyStrip(val)
	if strings.HasPrefix(val, "%+") || strings.HasPrefix(val, "%-") {
		val = "(" + name + " " + val + ")"
	}
	fix := func(s string) string {
		if strings.HasPrefix(s, "round_to_int") {
			return "round_to_int(" + s[12:] + ")"
		}
		return s
	}
	evalFloat := func(s string) (float64, error) {
		v, err := p.evalExp(s)
		if err != nil {
			return 0, err
		}
		return pyFloat(v)
	}
	for strings.Contains(val, "%+") || strings.Contains(val, "%-") {
		val = "(" + val + ")"
		var err error
		val, err = subFunc(reParen, val, func(m []string) (string, error) {
			t := m[1]
			if !strings.Contains(t, "%+") && !strings.Contains(t, "%-") {
				v, err := p.evalExp(fix(t))
				if err != nil {
					return "", err
				}
				return pyStr(v), nil
			}
			sep, add := "%-", false
			if strings.Contains(t, "%+") {
				sep, add = "%+", true
			}
			parts := strings.Split(t, sep)
			if len(parts) != 2 {
				return "", fmt.Errorf("fairmath: bad expression %q", t)
			}
			o, err := evalFloat(parts[0])
			if err != nil {
				return "", err
			}
			n, err := evalFloat(fix(parts[1]))
			if err != nil {
				return "", err
			}
			var r float64
			if add {
				r = o + (100-o)*n/100
			} else {
				r = o - o*n/100
			}
			rv, err := pyRound(r)
			if err != nil {
				return "", err
			}
			return pyStr(rv), nil
		})
		if err != nil {
			return "", err
		}
	}
	return val, nil
}

// setVar is upstream _set_var; val nil means no value. It returns the variable's name.
func (p *Player) setVar(name string, val *string) (string, error) {
	v, err := p.processExp(strings.ToLower(name), true, true)
	if err != nil {
		return "", err
	}
	name = strings.ReplaceAll(v, `"`, "")
	if val == nil {
		p.sym[name] = nil
		p.updateTemp(name)
		return name, nil
	}
	s := *val
	if strings.HasPrefix(s, "&") {
		add, err := p.processExp(s[1:], true, true)
		if err != nil {
			return "", err
		}
		cur, ok := p.sym[name]
		if !ok {
			return "", &nameError{name}
		}
		r, err := binop("+", cur, `"`+add+`"`)
		if err != nil {
			return "", err
		}
		p.sym[name] = r
		p.updateTemp(name)
		return name, nil
	}
	hasHash := strings.Contains(s, "#")
	if s, err = p.processExp(s, true, true); err != nil {
		return "", err
	}
	if s, err = p.fairmath(name, s); err != nil {
		return "", err
	}
	low := strings.ToLower(strings.ReplaceAll(s, `"`, ""))
	switch {
	case s == "":
		p.sym[name] = ""
	case low == "true":
		p.sym[name] = true
	case low == "false" || strings.Contains(s, "choice_time_stamp"):
		p.sym[name] = false
	case strings.ContainsAny(s[:1], "+-*/"):
		x, err := evalExpr(strings.ToLower(pyStrip(s[1:])), p)
		if err != nil {
			return "", fmt.Errorf("evaluating %q: %w", s[1:], err)
		}
		// The reference executes "name op= str(x)".
		if x, err = evalExpr(pyStr(x), p); err != nil {
			return "", fmt.Errorf("evaluating %q: %w", pyStr(x), err)
		}
		cur, ok := p.sym[name]
		if !ok {
			return "", &nameError{name}
		}
		r, err := binop(s[:1], cur, x)
		if err != nil {
			cs, isStr := cur.(string)
			if !isStr {
				return "", err
			}
			f, err := pyFloat(cs)
			if err != nil {
				return "", err
			}
			if r, err = binop(s[:1], f, x); err != nil {
				return "", err
			}
		}
		p.sym[name] = r
	case strings.Contains(s, "="):
		r, err := p.userVarsEval(s)
		if err != nil {
			return "", err
		}
		p.sym[name] = r
	case strings.ContainsAny(s, `"'`) || hasHash:
		p.sym[name] = strings.ReplaceAll(strings.ReplaceAll(s, `\`, ""), `"`, "")
	default:
		r, err := evalExpr(s, p)
		if err != nil && isNameError(err) {
			r, err = evalExpr(replaceNames(s, p.userVars, true, strings.ToLower), p)
		}
		if err != nil {
			return "", fmt.Errorf("evaluating %q: %w", s, err)
		}
		p.sym[name] = r
	}
	p.updateTemp(name)
	return name, nil
}

func (p *Player) updateTemp(name string) {
	if t, ok := p.sceneTemps[p.curScene]; ok {
		if _, ok := t[name]; ok {
			t[name] = p.sym[name]
		}
	}
}
