// The tokenizer of game expressions (Python expression syntax).

package machiavelli

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

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
