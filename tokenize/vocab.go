// The BPE model of tokenizer.json (vocabulary, merges, unknown and byte-fallback tokens) and
// its added tokens.

package tokenize

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

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
	slices.SortStableFunc(t.added, func(a, b addedToken) int { return cmp.Compare(a.ID, b.ID) })
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
