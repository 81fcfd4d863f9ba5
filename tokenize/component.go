// The normalizer, pre-tokenizer, decoder and post-processor objects of tokenizer.json and the
// pipeline stages built from them.

package tokenize

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// component is a normalizer / pre-tokenizer / decoder / post-processor object of tokenizer.json.
type component struct {
	Type           string            `json:"type"`
	Normalizers    []json.RawMessage `json:"normalizers"`
	Pretokenizers  []json.RawMessage `json:"pretokenizers"`
	Decoders       []json.RawMessage `json:"decoders"`
	Processors     []json.RawMessage `json:"processors"`
	Prepend        string            `json:"prepend"`
	Pattern        *patternJSON      `json:"pattern"`
	Content        json.RawMessage   `json:"content"`
	Behavior       string            `json:"behavior"`
	Invert         bool              `json:"invert"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	UseRegex       *bool             `json:"use_regex"`
	Start          int               `json:"start"`
	Stop           int               `json:"stop"`
	Left           bool              `json:"left"`
	Right          bool              `json:"right"`
	Replacement    string            `json:"replacement"`
	PrependScheme  string            `json:"prepend_scheme"`
	Split          *bool             `json:"split"`
	Single         []templatePiece   `json:"single"`
}

type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type templatePiece struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

// gpt2Pattern is the split pattern of the ByteLevel pre-tokenizer with use_regex.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// stage builds one kind of pipeline stage (normalizer, pre-tokenizer, decoder or
// post-processor) from its tokenizer.json object.
type stage[T any] struct {
	none  T                                  // the stage of an absent (null) object
	one   func(*component) (T, error)        // a stage of any type but Sequence
	field string                             // the field of a Sequence that lists its parts
	parts func(*component) []json.RawMessage // that field's value
	seq   func([]T) T                        // the Sequence of the built parts
}

// build reads raw: none when it is null, a Sequence by building each of its parts in turn (an
// error names the part), any other type by one.
func (k stage[T]) build(raw json.RawMessage) (T, error) {
	var zero T
	if isNull(raw) {
		return k.none, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return zero, err
	}
	if c.Type != "Sequence" {
		return k.one(&c)
	}
	var q []T
	for i, r := range k.parts(&c) {
		x, err := k.build(r)
		if err != nil {
			return zero, fmt.Errorf("%s[%d]: %w", k.field, i, err)
		}
		q = append(q, x)
	}
	return k.seq(q), nil
}

// literal returns the literal of a String pattern; Regex patterns are an error here.
func (c *component) literal() (string, error) {
	if c.Pattern == nil || c.Pattern.String == nil {
		return "", fmt.Errorf("%s: only a String pattern is supported", c.Type)
	}
	return *c.Pattern.String, nil
}

func (c *component) contentString() (string, error) {
	var s string
	if err := json.Unmarshal(c.Content, &s); err != nil {
		return "", fmt.Errorf("%s: content: want a string", c.Type)
	}
	return s, nil
}

// replacement is what a Replace normalizer or decoder replaces (a String pattern) and with
// what (its content).
func (c *component) replacement() (pattern, content string, err error) {
	if pattern, err = c.literal(); err != nil {
		return "", "", err
	}
	if content, err = c.contentString(); err != nil {
		return "", "", err
	}
	return pattern, content, nil
}

// The stages of the pipeline that tokenizer.json describes one by one or as a Sequence.
var (
	normalizers = stage[normalizer]{none: noNorm{}, one: normalizerOf, field: "normalizers",
		parts: func(c *component) []json.RawMessage { return c.Normalizers },
		seq:   func(q []normalizer) normalizer { return seqNorm(q) }}
	preTokenizers = stage[preTokenizer]{none: noPreTok{}, one: preTokOf, field: "pretokenizers",
		parts: func(c *component) []json.RawMessage { return c.Pretokenizers },
		seq:   func(q []preTokenizer) preTokenizer { return seqPreTok(q) }}
	decoders = stage[decoder]{none: joinDecoder{}, one: decoderOf, field: "decoders",
		parts: func(c *component) []json.RawMessage { return c.Decoders },
		seq:   func(q []decoder) decoder { return seqDecoder(q) }}
)

func normalizerOf(c *component) (normalizer, error) {
	switch c.Type {
	case "NFC":
		return unicodeNorm{norm.NFC}, nil
	case "NFD":
		return unicodeNorm{norm.NFD}, nil
	case "NFKC":
		return unicodeNorm{norm.NFKC}, nil
	case "NFKD":
		return unicodeNorm{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNorm{}, nil
	case "Prepend":
		return prependNorm{c.Prepend}, nil
	case "Strip":
		return stripNorm{c.Left, c.Right}, nil
	case "Replace":
		old, s, err := c.replacement()
		if err != nil {
			return nil, err
		}
		return replaceNorm{old, s}, nil
	}
	return nil, fmt.Errorf("type %q is not supported", c.Type)
}

func preTokOf(c *component) (preTokenizer, error) {
	switch c.Type {
	case "ByteLevel":
		b := byteLevelPreTok{addPrefixSpace: c.AddPrefixSpace != nil && *c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
			var err error
			if b.re, err = compileSplitRegex(gpt2Pattern); err != nil {
				return nil, err
			}
		}
		return b, nil
	case "Split":
		if c.Invert {
			return nil, errors.New("Split: invert is not supported")
		}
		if c.Behavior != "Isolated" && c.Behavior != "Removed" {
			return nil, fmt.Errorf("Split: behavior %q is not supported (Isolated, Removed)", c.Behavior)
		}
		if c.Pattern == nil {
			return nil, errors.New("Split: pattern missing")
		}
		var pat string
		switch {
		case c.Pattern.Regex != nil:
			pat = *c.Pattern.Regex
		case c.Pattern.String != nil:
			pat = regexpQuote(*c.Pattern.String)
		default:
			return nil, errors.New("Split: pattern has neither Regex nor String")
		}
		re, err := compileSplitRegex(pat)
		if err != nil {
			return nil, fmt.Errorf("Split: %w", err)
		}
		return splitPreTok{re: re, removed: c.Behavior == "Removed"}, nil
	case "Metaspace":
		if c.Replacement == "" {
			return nil, errors.New("Metaspace: replacement missing")
		}
		return metaspacePreTok{replacement: c.Replacement, prepend: c.PrependScheme != "never",
			splitWords: c.Split == nil || *c.Split}, nil
	}
	return nil, fmt.Errorf("type %q is not supported", c.Type)
}

func decoderOf(c *component) (decoder, error) {
	switch c.Type {
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "ByteFallback":
		return newByteFallbackDecoder(), nil
	case "Fuse":
		return newFuseDecoder(), nil
	case "Strip":
		s, err := c.contentString()
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(s) != 1 || c.Start < 0 || c.Stop < 0 {
			return nil, fmt.Errorf("Strip: want one content character and non-negative start/stop, got %q %d %d", s, c.Start, c.Stop)
		}
		r, _ := utf8.DecodeRuneInString(s)
		return stripDecoder{content: r, start: c.Start, stop: c.Stop}, nil
	case "Replace":
		old, s, err := c.replacement()
		if err != nil {
			return nil, err
		}
		return replaceDecoder{old, s}, nil
	case "Metaspace":
		r, _ := utf8.DecodeRuneInString(c.Replacement)
		if c.Replacement == "" {
			return nil, errors.New("Metaspace: replacement missing")
		}
		return metaspaceDecoder{replacement: r, dropFirst: c.PrependScheme != "never"}, nil
	}
	return nil, fmt.Errorf("type %q is not supported", c.Type)
}

// buildPost reads the single-sequence template of a TemplateProcessing post-processor (possibly
// inside a Sequence, whose parts' tokens nest: the first part's prefix comes first and its
// suffix last); ByteLevel post-processing only adjusts offsets and adds nothing.
func (t *Tokenizer) buildPost(raw json.RawMessage) (postProcessor, error) {
	return stage[postProcessor]{one: t.postOf, field: "processors",
		parts: func(c *component) []json.RawMessage { return c.Processors },
		seq: func(q []postProcessor) (p postProcessor) {
			for _, x := range q {
				p.prefix = append(p.prefix, x.prefix...)
				p.suffix = append(x.suffix, p.suffix...)
			}
			return p
		}}.build(raw)
}

func (t *Tokenizer) postOf(c *component) (postProcessor, error) {
	var p postProcessor
	switch c.Type {
	case "ByteLevel":
		return p, nil
	case "TemplateProcessing":
		seen := false
		for i, piece := range c.Single {
			switch {
			case piece.Sequence != nil:
				if seen {
					return p, fmt.Errorf("single[%d]: sequence appears twice", i)
				}
				seen = true
			case piece.SpecialToken != nil:
				id, ok := t.TokenID(piece.SpecialToken.ID)
				if !ok {
					return p, fmt.Errorf("single[%d]: special token %q not in the vocabulary", i, piece.SpecialToken.ID)
				}
				if seen {
					p.suffix = append(p.suffix, id)
				} else {
					p.prefix = append(p.prefix, id)
				}
			default:
				return p, fmt.Errorf("single[%d]: want SpecialToken or Sequence", i)
			}
		}
		if !seen {
			return p, errors.New("single: no Sequence")
		}
		return p, nil
	}
	return p, fmt.Errorf("type %q is not supported", c.Type)
}

func regexpQuote(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
