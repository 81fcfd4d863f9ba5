package tokenize

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	sgpretok "github.com/sugarme/tokenizer/pretokenizer"
)

// preTokenizer splits normalized text into the pieces the BPE model encodes one by one.
type preTokenizer interface {
	split(text string) []string
}

type noPreTok struct{}

func (noPreTok) split(text string) []string { return []string{text} }

type seqPreTok []preTokenizer

func (s seqPreTok) split(text string) []string {
	pieces := []string{text}
	for _, p := range s {
		var next []string
		for _, pc := range pieces {
			next = append(next, p.split(pc)...)
		}
		pieces = next
	}
	return pieces
}

// byteLevelPreTok is Hugging Face's ByteLevel pre-tokenizer: optional GPT-2 regex split, optional
// prefix space, then every byte mapped to its printable stand-in (space -> "Ġ").
type byteLevelPreTok struct {
	addPrefixSpace bool
	re             *splitRegex // nil unless use_regex
}

func (b byteLevelPreTok) split(text string) []string {
	if b.addPrefixSpace && !strings.HasPrefix(text, " ") {
		text = " " + text
	}
	pieces := []string{text}
	if b.re != nil {
		pieces = b.re.split(text, false)
	}
	for i, p := range pieces {
		pieces[i] = byteLevelEncode(p)
	}
	return pieces
}

// byteToChar / charToByte are GPT-2's byte-to-unicode table (sugarme's, checked in tests).
var (
	byteToChar [256]string
	charToByte = map[rune]byte{}
)

func init() {
	for b, s := range sgpretok.BytesChar {
		byteToChar[b] = s
		r, _ := utf8.DecodeRuneInString(s)
		charToByte[r] = b
	}
}

func byteLevelEncode(s string) string {
	var sb strings.Builder
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		sb.WriteString(byteToChar[s[i]])
	}
	return sb.String()
}

// splitPreTok is Hugging Face's Split pre-tokenizer.
type splitPreTok struct {
	re      *splitRegex
	removed bool // behavior "Removed" (else "Isolated")
}

func (s splitPreTok) split(text string) []string { return s.re.split(text, s.removed) }

// splitRegex is a Split pattern compiled for Go's regexp. Go's RE2 syntax has no lookahead, so
// the one lookahead used by GPT-2 / Llama 3 / Qwen patterns, the alternative `\s+(?!\S)` ("a
// whitespace run, but leave its last character to the next piece when a non-space follows"),
// becomes the named group ws and its semantics are applied by hand in split. `\s` and `\S` are
// rewritten to Unicode White_Space as in Oniguruma/Rust (Go's `\s` is ASCII only).
type splitRegex struct {
	re       *regexp.Regexp
	wsGroup  int            // submatch index of the lookahead alternative; -1 if none
	fallback *regexp.Regexp // pattern without that alternative, anchored at start
}

const (
	wsClassInner = `\t\n\v\f\r\x{85}\p{Z}`
	lookaheadAlt = `\s+(?!\S)`
)

// compileSplitRegex translates an Oniguruma split pattern of a tokenizer.json.
func compileSplitRegex(pattern string) (*splitRegex, error) {
	sr := &splitRegex{wsGroup: -1}
	src := pattern
	hasLook := strings.Contains(src, lookaheadAlt)
	if hasLook {
		src = strings.Replace(src, lookaheadAlt, `(?P<valorawsrun>\s+)`, 1)
	}
	tr, err := translateWhitespace(src)
	if err != nil {
		return nil, fmt.Errorf("split pattern %q: %w", pattern, err)
	}
	re, err := regexp.Compile(tr)
	if err != nil {
		return nil, fmt.Errorf("split pattern %q: not supported by Go's regexp: %w", pattern, err)
	}
	sr.re = re
	if hasLook {
		sr.wsGroup = re.SubexpIndex("valorawsrun")
		alts := strings.Replace(pattern, "|"+lookaheadAlt, "", 1)
		alts = strings.Replace(alts, lookaheadAlt+"|", "", 1)
		if alts == pattern {
			return nil, fmt.Errorf("split pattern %q: %s is supported only as a top-level alternative", pattern, lookaheadAlt)
		}
		tr, err := translateWhitespace(alts)
		if err != nil {
			return nil, fmt.Errorf("split pattern %q: %w", pattern, err)
		}
		if sr.fallback, err = regexp.Compile(`^(?:` + tr + `)`); err != nil {
			return nil, fmt.Errorf("split pattern %q: %w", pattern, err)
		}
	}
	return sr, nil
}

// translateWhitespace rewrites \s and \S to Unicode White_Space classes and rejects the
// lookaround constructs RE2 lacks with a clear message.
func translateWhitespace(p string) (string, error) {
	var sb strings.Builder
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			n := p[i+1]
			i++
			switch {
			case n == 's' && inClass:
				sb.WriteString(wsClassInner)
			case n == 's':
				sb.WriteString(`[` + wsClassInner + `]`)
			case n == 'S' && !inClass:
				sb.WriteString(`[^` + wsClassInner + `]`)
			case n == 'S':
				return "", fmt.Errorf(`\S inside a character class is not supported`)
			default:
				sb.WriteByte(c)
				sb.WriteByte(n)
			}
			continue
		case c == '[' && !inClass:
			inClass = true
			sb.WriteByte(c)
			// a ']' or '^]' right after '[' is literal
			if i+1 < len(p) && p[i+1] == '^' {
				sb.WriteByte('^')
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				sb.WriteByte(']')
				i++
			}
			continue
		case c == ']' && inClass:
			inClass = false
		case c == '(' && !inClass && strings.HasPrefix(p[i:], "(?") && i+2 < len(p) && strings.ContainsRune("=!<", rune(p[i+2])):
			if !(p[i+2] == '<' && i+3 < len(p) && p[i+3] != '=' && p[i+3] != '!') {
				return "", fmt.Errorf("lookaround %q is not supported", p[i:min(len(p), i+8)])
			}
		}
		sb.WriteByte(c)
	}
	return sb.String(), nil
}

// split cuts text into the matches of the pattern and the gaps between them (Isolated), or only
// the gaps (removed). Empty matches are ignored.
func (s *splitRegex) split(text string, removed bool) []string {
	var out []string
	gap, pos := 0, 0
	for pos < len(text) {
		m := s.re.FindStringSubmatchIndex(text[pos:])
		if m == nil {
			break
		}
		start, end := pos+m[0], pos+m[1]
		if end == start {
			if start >= len(text) {
				break
			}
			_, w := utf8.DecodeRuneInString(text[start:])
			pos = start + w
			continue
		}
		if s.wsGroup >= 0 && m[2*s.wsGroup] >= 0 && end < len(text) {
			// `\s+(?!\S)`: a non-space follows the run, so the run gives up its last character;
			// a run of one character cannot, and the later alternatives decide.
			_, w := utf8.DecodeLastRuneInString(text[start:end])
			if end-w > start {
				end -= w
			} else if fm := s.fallback.FindStringIndex(text[start:]); fm != nil && fm[1] > 0 {
				end = start + fm[1]
			} else {
				pos = start + w
				continue
			}
		}
		if start > gap {
			out = append(out, text[gap:start])
		}
		if !removed {
			out = append(out, text[start:end])
		}
		gap, pos = end, end
	}
	if gap < len(text) {
		out = append(out, text[gap:])
	}
	return out
}

// metaspacePreTok is Hugging Face's Metaspace pre-tokenizer: spaces become the replacement
// character, which is prepended to the text (prepend_scheme "always"; "first" is treated the
// same, which differs from the reference only for text after an added token), and with split
// the text is cut before each replacement character.
type metaspacePreTok struct {
	replacement string
	prepend     bool
	splitWords  bool
}

func (m metaspacePreTok) split(text string) []string {
	text = strings.ReplaceAll(text, " ", m.replacement)
	if m.prepend && !strings.HasPrefix(text, m.replacement) {
		text = m.replacement + text
	}
	if !m.splitWords {
		return []string{text}
	}
	var out []string
	for len(text) > 0 {
		k := strings.Index(text[len(m.replacement):], m.replacement)
		if k < 0 {
			out = append(out, text)
			break
		}
		k += len(m.replacement)
		out = append(out, text[:k])
		text = text[k:]
	}
	return out
}
