package tokenize

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// tokenizerJSON is the part of tokenizer.json valora reads.
type tokenizerJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *modelJSON      `json:"model"`
}

type modelJSON struct {
	Type                    string            `json:"type"`
	Dropout                 *float64          `json:"dropout"`
	UnkToken                *string           `json:"unk_token"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
	FuseUnk                 bool              `json:"fuse_unk"`
	ByteFallback            bool              `json:"byte_fallback"`
	IgnoreMerges            bool              `json:"ignore_merges"`
	Vocab                   map[string]int    `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
}

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

// Load reads dir/tokenizer.json and, when present, dir/tokenizer_config.json (BOS/EOS, whether
// to add them, the chat template, clean_up_tokenization_spaces). Only BPE models are supported;
// an unsupported model type, normalizer, pre-tokenizer, decoder or post-processor, or a
// malformed file, gives an error naming the file and the field.
func Load(dir string) (*Tokenizer, error) {
	return load(dir, func(name string) string { return filepath.Join(dir, name) }, os.ReadFile)
}

// LoadFS is Load from the directory dir of fsys ("." for its root), for tokenizers in an
// embed.FS, an archive or any other file system.
func LoadFS(fsys fs.FS, dir string) (*Tokenizer, error) {
	return load(dir, func(name string) string { return path.Join(dir, name) },
		func(p string) ([]byte, error) { return fs.ReadFile(fsys, p) })
}

// load reads the tokenizer files of dir: join gives a file's path, read its contents.
func load(dir string, join func(name string) string, read func(path string) ([]byte, error)) (tok *Tokenizer, err error) {
	tjPath := join("tokenizer.json")
	defer func() {
		if r := recover(); r != nil {
			tok, err = nil, fmt.Errorf("tokenize: load %s: internal error: %v", tjPath, r)
		}
	}()
	raw, err := read(tjPath)
	if err != nil {
		return nil, fmt.Errorf("tokenize: load %s: %w", dir, err)
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(raw, &tj); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: %w", tjPath, err)
	}
	t := &Tokenizer{dir: dir, unkID: -1, bosID: -1, eosID: -1}
	if err := t.loadModel(tj.Model); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: %w", tjPath, err)
	}
	if err := t.loadAdded(tj.AddedTokens); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: %w", tjPath, err)
	}
	if t.normalizer, err = buildNormalizer(tj.Normalizer); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: normalizer: %w", tjPath, err)
	}
	if t.preTok, err = buildPreTok(tj.PreTokenizer); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: pre_tokenizer: %w", tjPath, err)
	}
	var dec decoder
	if dec, err = buildDecoder(tj.Decoder); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: decoder: %w", tjPath, err)
	}
	t.decoder = seqDecoder{dec}
	if t.post, err = t.buildPost(tj.PostProcessor); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: post_processor: %w", tjPath, err)
	}
	if err := t.loadConfig(join("tokenizer_config.json"), read); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokenizer) loadModel(m *modelJSON) error {
	if m == nil {
		return errors.New("model: missing")
	}
	if m.Type != "BPE" && !(m.Type == "" && m.Merges != nil) {
		return fmt.Errorf("model: type %q is not supported (only BPE)", m.Type)
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return fmt.Errorf("model: dropout %g is not supported (encoding would be random)", *m.Dropout)
	}
	if len(m.Vocab) == 0 {
		return errors.New("model: vocab is empty or missing")
	}
	t.vocab = m.Vocab
	maxID := -1
	for tok, id := range m.Vocab {
		if id < 0 {
			return fmt.Errorf("model: vocab: token %q has negative id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	if maxID > 1<<24 {
		return fmt.Errorf("model: vocab: id %d is implausibly large", maxID)
	}
	t.idToToken = make([]string, maxID+1)
	for tok, id := range m.Vocab {
		t.idToToken[id] = tok
	}
	if m.ContinuingSubwordPrefix != nil {
		t.contPrefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		t.wordSuffix = *m.EndOfWordSuffix
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return fmt.Errorf("model: unk_token %q is not in the vocab", *m.UnkToken)
		}
		t.unkID = id
	}
	t.fuseUnk, t.byteFallback, t.ignoreMerges = m.FuseUnk, m.ByteFallback, m.IgnoreMerges
	for b := range t.byteIDs {
		t.byteIDs[b] = -1
		if id, ok := m.Vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteIDs[b] = id
		}
	}
	t.merges = make(map[uint64]merge, len(m.Merges))
	for i, rawM := range m.Merges {
		var a, b string
		var pair []string
		var s string
		if err := json.Unmarshal(rawM, &pair); err == nil {
			if len(pair) != 2 {
				return fmt.Errorf("model: merges[%d]: want 2 strings, got %d", i, len(pair))
			}
			a, b = pair[0], pair[1]
		} else if err := json.Unmarshal(rawM, &s); err == nil {
			parts := strings.Split(s, " ")
			if len(parts) != 2 {
				return fmt.Errorf("model: merges[%d] = %q: want \"left right\"", i, s)
			}
			a, b = parts[0], parts[1]
		} else {
			return fmt.Errorf("model: merges[%d]: want a string or a pair of strings, got %s", i, rawM)
		}
		ia, oka := m.Vocab[a]
		ib, okb := m.Vocab[b]
		im, okm := m.Vocab[a+b]
		if !oka || !okb || !okm {
			return fmt.Errorf("model: merges[%d] (%q, %q): token not in the vocab", i, a, b)
		}
		k := pairKey(ia, ib)
		if _, dup := t.merges[k]; !dup {
			t.merges[k] = merge{rank: i, id: im}
		}
	}
	return nil
}

func (t *Tokenizer) loadAdded(added []addedToken) error {
	t.addedByID = make(map[int]*addedToken, len(added))
	t.added = append([]addedToken(nil), added...)
	sort.SliceStable(t.added, func(i, j int) bool { return t.added[i].ID < t.added[j].ID })
	for i := range t.added {
		a := &t.added[i]
		if a.Content == "" || a.ID < 0 || a.ID > 1<<24 || !utf8.ValidString(a.Content) {
			return fmt.Errorf("added_tokens[%d]: invalid token (id %d, content %q)", i, a.ID, a.Content)
		}
		if a.ID >= len(t.idToToken) {
			grown := make([]string, a.ID+1)
			copy(grown, t.idToToken)
			t.idToToken = grown
		}
		t.idToToken[a.ID] = a.Content
		t.addedByID[a.ID] = a
		t.addedFirst[a.Content[0]] = append(t.addedFirst[a.Content[0]], a)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

func parseComponent(raw json.RawMessage) (*component, error) {
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// patternString returns the literal of a String pattern; Regex patterns are an error here.
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

func buildNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return noNorm{}, nil
	}
	c, err := parseComponent(raw)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var q seqNorm
		for i, r := range c.Normalizers {
			n, err := buildNormalizer(r)
			if err != nil {
				return nil, fmt.Errorf("normalizers[%d]: %w", i, err)
			}
			q = append(q, n)
		}
		return q, nil
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
		old, err := c.literal()
		if err != nil {
			return nil, err
		}
		s, err := c.contentString()
		if err != nil {
			return nil, err
		}
		return replaceNorm{old, s}, nil
	}
	return nil, fmt.Errorf("type %q is not supported", c.Type)
}

func buildPreTok(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return noPreTok{}, nil
	}
	c, err := parseComponent(raw)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var q seqPreTok
		for i, r := range c.Pretokenizers {
			p, err := buildPreTok(r)
			if err != nil {
				return nil, fmt.Errorf("pretokenizers[%d]: %w", i, err)
			}
			q = append(q, p)
		}
		return q, nil
	case "ByteLevel":
		b := byteLevelPreTok{addPrefixSpace: c.AddPrefixSpace != nil && *c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
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

func buildDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return joinDecoder{}, nil
	}
	c, err := parseComponent(raw)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var q seqDecoder
		for i, r := range c.Decoders {
			d, err := buildDecoder(r)
			if err != nil {
				return nil, fmt.Errorf("decoders[%d]: %w", i, err)
			}
			q = append(q, d)
		}
		return q, nil
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
		old, err := c.literal()
		if err != nil {
			return nil, err
		}
		s, err := c.contentString()
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
// inside a Sequence); ByteLevel post-processing only adjusts offsets and adds nothing.
func (t *Tokenizer) buildPost(raw json.RawMessage) (postProcessor, error) {
	var p postProcessor
	if isNull(raw) {
		return p, nil
	}
	c, err := parseComponent(raw)
	if err != nil {
		return p, err
	}
	switch c.Type {
	case "Sequence":
		for i, r := range c.Processors {
			q, err := t.buildPost(r)
			if err != nil {
				return p, fmt.Errorf("processors[%d]: %w", i, err)
			}
			p.prefix = append(p.prefix, q.prefix...)
			p.suffix = append(q.suffix, p.suffix...)
		}
		return p, nil
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

// loadConfig reads tokenizer_config.json: bos/eos tokens, add_bos_token / add_eos_token (which,
// when present, decide the special tokens added by Encode as transformers' Llama tokenizers
// do), clean_up_tokenization_spaces and chat_template. A missing file is not an error.
func (t *Tokenizer) loadConfig(path string, read func(string) ([]byte, error)) error {
	raw, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokenize: load %s: %w", path, err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("tokenize: load %s: %w", path, err)
	}
	t.config = cfg
	tokenField := func(key string) (string, int, error) {
		v, ok := cfg[key]
		if !ok || v == nil {
			return "", -1, nil
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case map[string]any:
			c, ok := x["content"].(string)
			if !ok {
				return "", -1, fmt.Errorf("tokenize: load %s: field %s: want a string or {content: string}", path, key)
			}
			s = c
		default:
			return "", -1, fmt.Errorf("tokenize: load %s: field %s: want a string, got %T", path, key, v)
		}
		id, ok := t.TokenID(s)
		if !ok {
			return "", -1, fmt.Errorf("tokenize: load %s: field %s: token %q is not in the vocabulary", path, key, s)
		}
		return s, id, nil
	}
	if t.bosTok, t.bosID, err = tokenField("bos_token"); err != nil {
		return err
	}
	if t.eosTok, t.eosID, err = tokenField("eos_token"); err != nil {
		return err
	}
	boolField := func(key string) (bool, bool, error) {
		v, ok := cfg[key]
		if !ok || v == nil {
			return false, false, nil
		}
		b, ok := v.(bool)
		if !ok {
			return false, false, fmt.Errorf("tokenize: load %s: field %s: want true or false, got %v", path, key, v)
		}
		return b, true, nil
	}
	addBOS, hasBOS, err := boolField("add_bos_token")
	if err != nil {
		return err
	}
	addEOS, hasEOS, err := boolField("add_eos_token")
	if err != nil {
		return err
	}
	if hasBOS || hasEOS {
		var p postProcessor
		if addBOS && t.bosID >= 0 {
			p.prefix = []int{t.bosID}
		}
		if addEOS && t.eosID >= 0 {
			p.suffix = []int{t.eosID}
		}
		t.post = p
	}
	if t.cleanUp, _, err = boolField("clean_up_tokenization_spaces"); err != nil {
		return err
	}
	if ct, ok := cfg["chat_template"]; ok && ct != nil {
		src, err := chatTemplateSource(ct)
		if err != nil {
			return fmt.Errorf("tokenize: load %s: field chat_template: %w", path, err)
		}
		if t.chat, err = compileChatTemplate(src); err != nil {
			return fmt.Errorf("tokenize: load %s: field chat_template: %w", path, err)
		}
	}
	return nil
}
