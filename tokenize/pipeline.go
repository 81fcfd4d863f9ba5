package tokenize

import (
	"strings"
	"unicode"
	"unicode/utf8"

	sgdecoder "github.com/sugarme/tokenizer/decoder"
	"golang.org/x/text/unicode/norm"
)

// normalizer is one step of tokenizer.json's normalizer.
type normalizer interface {
	apply(s string) string
}

type noNorm struct{}

func (noNorm) apply(s string) string { return s }

type seqNorm []normalizer

func (q seqNorm) apply(s string) string {
	for _, n := range q {
		s = n.apply(s)
	}
	return s
}

type unicodeNorm struct{ form norm.Form }

func (u unicodeNorm) apply(s string) string { return u.form.String(s) }

type lowercaseNorm struct{}

func (lowercaseNorm) apply(s string) string { return strings.ToLower(s) }

// prependNorm prepends its string to non-empty text (Hugging Face's Prepend).
type prependNorm struct{ prefix string }

func (p prependNorm) apply(s string) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

type replaceNorm struct{ old, new string }

func (r replaceNorm) apply(s string) string { return strings.ReplaceAll(s, r.old, r.new) }

type stripNorm struct{ left, right bool }

func (st stripNorm) apply(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// decoder turns tokens back into text (tokenizer.json's decoder), step by step as Hugging Face's
// decode_chain.
type decoder interface {
	chain(toks []string) []string
}

type seqDecoder []decoder

func (q seqDecoder) chain(toks []string) []string {
	for _, d := range q {
		toks = d.chain(toks)
	}
	return toks
}

func (q seqDecoder) decode(toks []string) string { return strings.Join(q.chain(toks), "") }

// joinDecoder is what Hugging Face does without a decoder: tokens joined by spaces.
type joinDecoder struct{}

func (joinDecoder) chain(toks []string) []string { return []string{strings.Join(toks, " ")} }

// byteLevelDecoder maps byte stand-ins back to bytes and the bytes to text, replacing invalid
// UTF-8 as Rust's String::from_utf8_lossy does. A token with a character outside the table
// (an added token such as "<|im_end|>" only has ASCII, which maps to itself) is taken as is.
type byteLevelDecoder struct{}

func (byteLevelDecoder) chain(toks []string) []string {
	var buf []byte
	for _, t := range toks {
		start := len(buf)
		ok := true
		for _, r := range t {
			b, in := charToByte[r]
			if !in {
				ok = false
				break
			}
			buf = append(buf, b)
		}
		if !ok {
			buf = append(buf[:start], t...)
		}
	}
	return []string{lossyUTF8(buf)}
}

// lossyUTF8 converts b to a string, replacing each maximal ill-formed subsequence by U+FFFD
// (the WHATWG / Rust from_utf8_lossy rule; Go's strings.ToValidUTF8 would merge runs instead).
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); {
		r, w := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || w > 1 {
			sb.Write(b[i : i+w])
			i += w
			continue
		}
		// invalid: skip the longest prefix of a well-formed sequence starting at i
		sb.WriteRune(utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return sb.String()
}

// maximalSubpart returns the length (>= 1) of the maximal prefix of b that could start a
// well-formed UTF-8 sequence but does not complete one.
func maximalSubpart(b []byte) int {
	c := b[0]
	var n int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		n = 2
	case c == 0xE0:
		n, lo = 3, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		n = 3
	case c == 0xED:
		n, hi = 3, 0x9F
	case c == 0xF0:
		n, lo = 4, 0x90
	case c >= 0xF1 && c <= 0xF3:
		n = 4
	case c == 0xF4:
		n, hi = 4, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i < n && i < len(b); i++ {
		if i == 1 {
			if b[i] < lo || b[i] > hi {
				break
			}
		} else if b[i] < 0x80 || b[i] > 0xBF {
			break
		}
	}
	return i
}

type replaceDecoder struct{ old, new string }

func (r replaceDecoder) chain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = strings.ReplaceAll(t, r.old, r.new)
	}
	return out
}

// sugarDecoder wraps a decoder of github.com/sugarme/tokenizer (ByteFallback, Fuse).
type sugarDecoder struct {
	d interface{ DecodeChain([]string) []string }
}

func (s sugarDecoder) chain(toks []string) []string { return s.d.DecodeChain(toks) }

func newByteFallbackDecoder() decoder { return sugarDecoder{sgdecoder.NewByteFallback()} }
func newFuseDecoder() decoder         { return sugarDecoder{sgdecoder.NewFuse()} }

// stripDecoder removes up to start leading and stop trailing copies of content from each token.
// (sugarme's Strip indexes past the end of short tokens and panics, hence this one.)
type stripDecoder struct {
	content     rune
	start, stop int
}

func (s stripDecoder) chain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		rs := []rune(t)
		a := 0
		for a < s.start && a < len(rs) && rs[a] == s.content {
			a++
		}
		b := len(rs)
		for k := 0; k < s.stop && b > a && rs[b-1] == s.content; k++ {
			b--
		}
		out[i] = string(rs[a:b])
	}
	return out
}

// metaspaceDecoder turns the metaspace character back into spaces, dropping the first one
// when the pre-tokenizer prepended it.
type metaspaceDecoder struct {
	replacement rune
	dropFirst   bool
}

func (m metaspaceDecoder) chain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		t = strings.ReplaceAll(t, string(m.replacement), " ")
		if i == 0 && m.dropFirst {
			t = strings.TrimPrefix(t, " ")
		}
		out[i] = t
	}
	return out
}

// postProcessor adds the special tokens around a sequence when encoding with addSpecial.
type postProcessor struct {
	prefix, suffix []int
}

func (p postProcessor) apply(ids []int) []int {
	if len(p.prefix) == 0 && len(p.suffix) == 0 {
		return ids
	}
	out := make([]int, 0, len(p.prefix)+len(ids)+len(p.suffix))
	out = append(out, p.prefix...)
	out = append(out, ids...)
	return append(out, p.suffix...)
}

// segment is a piece of text between added tokens, or an added token.
type segment struct {
	text  string
	added *addedToken
}

// splitAdded cuts text at the added tokens whose normalized flag equals normalized, matching
// leftmost-longest like Hugging Face, and honouring lstrip / rstrip / single_word.
func (t *Tokenizer) splitAdded(text string, normalized bool) []segment {
	var out []segment
	last := 0 // start of the pending text segment
	for i := 0; i < len(text); {
		a := t.matchAdded(text, i, normalized)
		if a == nil {
			_, w := utf8.DecodeRuneInString(text[i:])
			i += w
			continue
		}
		start, end := i, i+len(a.Content)
		if a.LStrip {
			for start > last {
				r, w := utf8.DecodeLastRuneInString(text[last:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= w
			}
		}
		if a.RStrip {
			for end < len(text) {
				r, w := utf8.DecodeRuneInString(text[end:])
				if !unicode.IsSpace(r) {
					break
				}
				end += w
			}
		}
		if start > last {
			out = append(out, segment{text: text[last:start]})
		}
		out = append(out, segment{added: a})
		last, i = end, end
	}
	if last < len(text) || len(out) == 0 {
		out = append(out, segment{text: text[last:]})
	}
	return out
}

// matchAdded returns the longest added token (of the given normalized flag) starting at i.
func (t *Tokenizer) matchAdded(text string, i int, normalized bool) *addedToken {
	var best *addedToken
	for _, a := range t.addedFirst[text[i]] {
		if a.Normalized != normalized || !strings.HasPrefix(text[i:], a.Content) {
			continue
		}
		if best != nil && len(best.Content) >= len(a.Content) {
			continue
		}
		if a.SingleWord && !singleWordBoundary(text, i, i+len(a.Content)) {
			continue
		}
		best = a
	}
	return best
}

func isWordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func singleWordBoundary(text string, start, end int) bool {
	if start > 0 {
		if r, _ := utf8.DecodeLastRuneInString(text[:start]); isWordChar(r) {
			return false
		}
	}
	if end < len(text) {
		if r, _ := utf8.DecodeRuneInString(text[end:]); isWordChar(r) {
			return false
		}
	}
	return true
}
