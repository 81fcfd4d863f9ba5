package tokenize

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	qwenDir    = "../testdata/qwen3-tokenizer"
	storiesDir = "../testdata/stories260k"
	llamaDir   = "../../shared/tokenizers/llama31"
)

type goldenText struct {
	Text           string `json:"text"`
	IDs            []int  `json:"ids"`
	IDsWithSpecial []int  `json:"ids_with_special"`
	Decoded        string `json:"decoded"`
}

type goldenTokenizer struct {
	Texts []goldenText `json:"texts"`
	Chat  struct {
		Messages []Message      `json:"messages"`
		Kwargs   map[string]any `json:"kwargs"`
		Text     string         `json:"text"`
		IDs      []int          `json:"ids"`
	} `json:"chat"`
	Digits   map[string][]int `json:"digits"`
	Verdicts map[string][]int `json:"verdicts"`
}

func readGoldens(t *testing.T) map[string]goldenTokenizer {
	t.Helper()
	raw, err := os.ReadFile("../testdata/tokenizer_goldens.json")
	require.NoError(t, err)
	var g map[string]goldenTokenizer
	require.NoError(t, json.Unmarshal(raw, &g))
	require.Contains(t, g, "qwen3")
	require.Contains(t, g, "llama31")
	return g
}

var (
	loadedMu sync.Mutex
	loaded   = map[string]*Tokenizer{}
)

// loadOrSkip loads a tokenizer directory once per test binary (a Tokenizer is immutable),
// skipping when it is the (uncopied) Llama 3.1 one and absent.
func loadOrSkip(t testing.TB, dir string) *Tokenizer {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil && dir == llamaDir {
		t.Skipf("Llama 3.1 tokenizer not available at %s (shared data absent)", dir)
	}
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if tok, ok := loaded[dir]; ok {
		return tok
	}
	tok, err := Load(dir)
	require.NoError(t, err)
	loaded[dir] = tok
	return tok
}

func TestGoldens(t *testing.T) {
	g := readGoldens(t)
	for _, tc := range []struct{ name, dir string }{{"qwen3", qwenDir}, {"llama31", llamaDir}} {
		t.Run(tc.name, func(t *testing.T) {
			tok := loadOrSkip(t, tc.dir)
			gold := g[tc.name]
			require.NotEmpty(t, gold.Texts)
			for _, x := range gold.Texts {
				ids, err := tok.Encode(x.Text, false)
				require.NoError(t, err)
				assert.Equal(t, nonNil(x.IDs), nonNil(ids), "ids of %q", x.Text)
				ids2, err := tok.Encode(x.Text, true)
				require.NoError(t, err)
				assert.Equal(t, nonNil(x.IDsWithSpecial), nonNil(ids2), "ids with special of %q", x.Text)
				dec, err := tok.Decode(x.IDs, false)
				require.NoError(t, err)
				assert.Equal(t, x.Decoded, dec, "decode of %q", x.Text)
			}

			chat, err := tok.ApplyChatTemplate(gold.Chat.Messages, true, gold.Chat.Kwargs)
			require.NoError(t, err)
			assert.Equal(t, gold.Chat.Text, chat)
			ids, err := tok.Encode(chat, false)
			require.NoError(t, err)
			assert.Equal(t, gold.Chat.IDs, ids)

			for _, set := range []map[string][]int{gold.Digits, gold.Verdicts} {
				require.NotEmpty(t, set)
				for answer, want := range set {
					got, err := tok.Encode(answer, false)
					require.NoError(t, err)
					assert.Equal(t, want, got, "ids of answer %q", answer)
				}
			}
			// After the chat prompt (which ends at a token boundary) each answer continues
			// with exactly its own ids.
			var answers []string
			for a := range gold.Digits {
				answers = append(answers, a)
			}
			for a := range gold.Verdicts {
				if a[0] != ' ' {
					answers = append(answers, a)
				}
			}
			seqs, err := tok.AnswerTokens(chat, answers)
			require.NoError(t, err)
			for i, a := range answers {
				want := gold.Digits[a]
				if want == nil {
					want = gold.Verdicts[a]
				}
				assert.Equal(t, want, seqs[i], "answer tokens of %q", a)
			}
		})
	}
}

func nonNil(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}

func TestStories260kGoldens(t *testing.T) {
	raw, err := os.ReadFile("../testdata/stories260k_goldens.json")
	require.NoError(t, err)
	var g struct {
		Tokenizer map[string]struct {
			HF []int `json:"hf"`
		} `json:"tokenizer"`
	}
	require.NoError(t, json.Unmarshal(raw, &g))
	require.NotEmpty(t, g.Tokenizer)
	tok := loadOrSkip(t, storiesDir)
	for text, want := range g.Tokenizer {
		got, err := tok.Encode(text, true)
		require.NoError(t, err)
		assert.Equal(t, want.HF, got, "ids of %q", text)
		// Decoding (without BOS) gives the text back: the decoder turns the byte-fallback
		// tokens into the original characters.
		dec, err := tok.Decode(want.HF, true)
		require.NoError(t, err)
		assert.Equal(t, text, dec)
	}
	// The case sugarme v0.3.0 gets wrong (maps ï, é and the emoji to <unk>).
	got, err := tok.Encode("naïve café 😀", true)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 297, 412, 198, 178, 360}, got[:6])
}
