package machiavelli

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text helpers standing in for the reference's Python regular expressions with look-around,
// which Go's regexp does not have.

// evenQuotesAfter reports whether s holds an even number of the quote runes in quotes.
func evenQuotesAfter(s string, quotes string) bool {
	n := 0
	for _, r := range s {
		if strings.ContainsRune(quotes, r) {
			n++
		}
	}
	return n%2 == 0
}

// replaceOutsideQuotes replaces each occurrence of any of words (tried in order) that is
// followed by an even number of ' or " up to the end of s: re.sub(r"(A|B)(?=(?:[^\"']*[\"'][^\"']*[\"'])*[^\"']*$)").
func replaceOutsideQuotes(s string, words []string, repl string) string {
	return scanReplace(s, func(i int) (int, string) {
		for _, w := range words {
			if strings.HasPrefix(s[i:], w) && evenQuotesAfter(s[i+len(w):], `"'`) {
				return len(w), repl
			}
		}
		return 0, ""
	})
}

// scanReplace rewrites s from left to right: at each byte offset i, match gives the length n
// of a match starting there and its replacement, or n = 0 to keep the byte.
func scanReplace(s string, match func(i int) (n int, repl string)) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if n, repl := match(i); n > 0 {
			b.WriteString(repl)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// splitAmpOutsideQuotes splits s at each & followed by an even number of double quotes.
func splitAmpOutsideQuotes(s string) []string {
	var parts []string
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '&' && evenQuotesAfter(s[i+1:], `"`) {
			parts = append(parts, s[last:i])
			last = i + 1
		}
	}
	return append(parts, s[last:])
}

func isWordRuneBefore(s string, i int) bool {
	if i <= 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return isWordRune(r)
}

func isWordRuneAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isWordRune(r)
}

// replaceNames applies re.sub(r'"[^"]*"|((?<!\w)(?:n1|n2|...)(?!\w))', f, s, flags): double-quoted
// strings are kept, and each listed name (alternatives tried in order, case-insensitively when
// fold) standing alone is replaced by f(match).
func replaceNames(s string, names []string, fold bool, f func(string) string) string {
	if len(names) == 0 {
		return s
	}
	return scanReplace(s, func(i int) (int, string) {
		if s[i] == '"' {
			if j := strings.IndexByte(s[i+1:], '"'); j >= 0 {
				return j + 2, s[i : i+j+2]
			}
		}
		if isWordRuneBefore(s, i) {
			return 0, ""
		}
		for _, n := range names {
			if n == "" || len(s)-i < len(n) {
				continue
			}
			cand := s[i : i+len(n)]
			if (cand == n || fold && strings.EqualFold(cand, n)) && !isWordRuneAt(s, i+len(n)) {
				return len(n), f(cand)
			}
		}
		return 0, ""
	})
}

// splitIntoParams is the reference's split_into_params: whitespace-separated words, keeping
// double-quoted and parenthesised parts together.
func splitIntoParams(text string) []string {
	var split []string
	parens := 0
	inQuote := false
	var cur strings.Builder
	for _, c := range text {
		if unicode.IsSpace(c) {
			if parens == 0 && !inQuote {
				split = append(split, cur.String())
				cur.Reset()
				continue
			}
		} else if c == '(' {
			parens++
		} else if c == ')' {
			parens--
		} else if c == '"' {
			inQuote = !inQuote
		}
		cur.WriteRune(c)
	}
	split = append(split, cur.String())
	var out []string
	for _, s := range split {
		if strings.TrimSpace(s) != "" {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// splitN is Python's str.split(None, n): at most n splits on whitespace runs.
func splitN(s string, n int) []string {
	var out []string
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	for len(s) > 0 {
		if n >= 0 && len(out) == n {
			out = append(out, s)
			break
		}
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i])
		s = strings.TrimLeftFunc(s[i:], unicode.IsSpace)
	}
	return out
}

// pyCapitalize is Python's str.capitalize.
func pyCapitalize(s string) string {
	rs := []rune(s)
	if len(rs) == 0 {
		return s
	}
	return strings.ToUpper(string(rs[0])) + strings.ToLower(string(rs[1:]))
}

// pyStrip is Python's str.strip() (whitespace, and U+FEFF is not whitespace there; keep Go's).
func pyStrip(s string) string { return strings.TrimFunc(s, unicode.IsSpace) }
