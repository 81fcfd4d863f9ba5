// Package tokenize turns text into the token ids a Hugging Face tokenizer produces, and back.
//
// It reads a model directory's tokenizer.json (and tokenizer_config.json when present) and
// reproduces the Hugging Face `tokenizers` pipeline exactly for the models valora uses: byte-level
// BPE (Qwen3, Llama 3), SentencePiece-style BPE with byte fallback (Llama 2 family, stories260k),
// added and special tokens matched in the text, BOS/EOS per tokenizer_config.json, and decoding.
// It also renders the Jinja chat template of tokenizer_config.json (ApplyChatTemplate) and
// finds the token sequences of candidate answers after a prompt (AnswerTokens), which the
// evaluators read logits from.
//
// Relation to github.com/sugarme/tokenizer (v0.3.0): its pretrained.FromFile panics on the Qwen3
// and Llama 3 tokenizer.json (their Split regex uses the lookahead `\s+(?!\S)`, which Go's regexp
// rejects), its BPE model maps characters outside the vocabulary to <unk> instead of the byte
// fallback tokens, breaks ties between equal-rank merges in the wrong order ("aaaaa" with the
// single merge a+a gives [aa a aa] instead of Hugging Face's [aa aa a]), has no ignore_merges,
// and its Strip decoder panics on tokens shorter than its count. valora therefore runs its own
// small pipeline (this package), reusing sugarme's GPT-2 byte-to-unicode table and its
// ByteFallback and Fuse decoders, which are correct. Every step is checked against goldens
// produced by Hugging Face tokenizers / transformers (see the module's testdata/README.md).
//
// A Tokenizer is immutable after Load and safe for concurrent use by multiple goroutines.
package tokenize

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Tokenizer is a loaded Hugging Face tokenizer. Create it with Load; the zero value is not usable.
// All methods are safe for concurrent use.
type Tokenizer struct {
	dir string

	// model (BPE)
	vocab        map[string]int
	merges       map[uint64]merge // key: pairKey(left id, right id)
	unkID        int              // -1: none
	fuseUnk      bool
	byteFallback bool
	byteIDs      [256]int // ids of <0xXX> when byteFallback
	ignoreMerges bool
	contPrefix   string
	wordSuffix   string

	idToToken []string     // model vocab and added tokens, by id ("" where unused)
	added     []addedToken // sorted by id
	addedByID map[int]*addedToken
	// addedFirst lists the added tokens by the first byte of their content.
	addedFirst [256][]*addedToken

	normalizer normalizer
	preTok     preTokenizer
	decoder    seqDecoder
	post       postProcessor
	cleanUp    bool // clean_up_tokenization_spaces

	bosID, eosID   int // -1: none
	bosTok, eosTok string
	config         map[string]any // tokenizer_config.json, nil when absent

	chat *chatTemplate // nil: no chat template

	cache wordCache
}

// merge is one BPE merge rule: its rank (lower merges first) and the id of the merged token.
type merge struct {
	rank, id int
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// addedToken is an entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// VocabSize is the number of token ids the tokenizer can produce: one more than the largest id
// of the model vocabulary and the added tokens. (The model's embedding matrix may be larger.)
func (t *Tokenizer) VocabSize() int { return len(t.idToToken) }

// TokenID returns the id of a token given as its vocabulary string (for byte-level models the
// byte-mapped form, e.g. "Ġthe"), or of an added token such as "<|im_end|>".
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	for i := range t.added {
		if t.added[i].Content == tok {
			return t.added[i].ID, true
		}
	}
	id, ok := t.vocab[tok]
	return id, ok
}

// Token returns the vocabulary string of id (the inverse of TokenID).
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= len(t.idToToken) {
		return "", false
	}
	if _, ok := t.addedByID[id]; ok {
		return t.idToToken[id], true
	}
	if _, ok := t.vocab[t.idToToken[id]]; !ok || t.vocab[t.idToToken[id]] != id {
		return "", false
	}
	return t.idToToken[id], true
}

// BOS returns the beginning-of-sequence token id (bos_token of tokenizer_config.json), if any.
func (t *Tokenizer) BOS() (int, bool) { return t.bosID, t.bosID >= 0 }

// EOS returns the end-of-sequence token id (eos_token of tokenizer_config.json), if any.
// For chat models this is the end-of-turn token (Qwen3: <|im_end|>, Llama 3.1: <|eot_id|>).
func (t *Tokenizer) EOS() (int, bool) { return t.eosID, t.eosID >= 0 }

// SpecialIDs returns the ids of all added tokens flagged special, ascending.
func (t *Tokenizer) SpecialIDs() []int {
	var ids []int
	for _, a := range t.added {
		if a.Special {
			ids = append(ids, a.ID)
		}
	}
	sort.Ints(ids)
	return ids
}

// Encode returns the token ids of text, as Hugging Face's tokenizer(text,
// add_special_tokens=addSpecial)["input_ids"]: added and special tokens written in the text
// (e.g. "<|im_start|>") are matched as single tokens; addSpecial adds what the tokenizer adds
// around a sequence (Llama: BOS; Qwen3: nothing). Invalid UTF-8 in text is an error.
func (t *Tokenizer) Encode(text string, addSpecial bool) (ids []int, err error) {
	defer guard(t.dir, "encode", &err)
	if !validUTF8(text) {
		return nil, fmt.Errorf("tokenize: encode: text is not valid UTF-8")
	}
	ids = t.encodeText(text)
	if addSpecial {
		ids = t.post.apply(ids)
	}
	return ids, nil
}

// guard converts a panic inside the pipeline (a bug, never expected) into an error naming the
// tokenizer directory, so that no panic crosses the package boundary.
func guard(dir, what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("tokenize: %s with tokenizer %s: internal error: %v", what, dir, r)
	}
}

// encodeText runs the pipeline without post-processing.
func (t *Tokenizer) encodeText(text string) []int {
	var ids []int
	for _, seg := range t.splitAdded(text, false) {
		if seg.added != nil {
			ids = append(ids, seg.added.ID)
			continue
		}
		norm := t.normalizer.apply(seg.text)
		for _, seg2 := range t.splitAdded(norm, true) {
			if seg2.added != nil {
				ids = append(ids, seg2.added.ID)
				continue
			}
			for _, piece := range t.preTok.split(seg2.text) {
				ids = t.bpeWord(piece, ids)
			}
		}
	}
	return ids
}

// Decode returns the text of ids, as Hugging Face's tokenizer.decode(ids,
// skip_special_tokens=skipSpecial). Bytes that do not form valid UTF-8 (e.g. half of an emoji)
// come out as U+FFFD, as in the reference. An id outside the vocabulary is an error.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) (s string, err error) {
	defer guard(t.dir, "decode", &err)
	toks := make([]string, 0, len(ids))
	for i, id := range ids {
		tok, ok := t.Token(id)
		if !ok {
			return "", fmt.Errorf("tokenize: decode: ids[%d] = %d is not a token id (vocabulary size %d)", i, id, len(t.idToToken))
		}
		if skipSpecial {
			if a, ok := t.addedByID[id]; ok && a.Special {
				continue
			}
		}
		toks = append(toks, tok)
	}
	s = t.decoder.decode(toks)
	if t.cleanUp {
		s = cleanUpTokenization(s)
	}
	return s, nil
}

// cleanUpTokenization is transformers' clean_up_tokenization, applied by decode when
// tokenizer_config.json sets clean_up_tokenization_spaces.
func cleanUpTokenization(s string) string {
	for _, r := range [][2]string{{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
		{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}} {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// wordCache remembers the BPE ids of pre-tokenized pieces (bounded; safe for concurrent use).
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int
}

const wordCacheMax = 50000

func (c *wordCache) get(w string) ([]int, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string][]int)
	}
	if len(c.m) < wordCacheMax {
		c.m[w] = ids
	}
	c.mu.Unlock()
}

func validUTF8(s string) bool { return utf8.ValidString(s) }
