package score

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
)

func loadModel(t testing.TB, dir string) *model.Model {
	t.Helper()
	m, err := model.Load(dir)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func loadTok(t testing.TB, dir string) *tokenize.Tokenizer {
	t.Helper()
	tok, err := tokenize.Load(dir)
	require.NoError(t, err)
	return tok
}

// loadStories loads the stories260k model and its tokenizer.
func loadStories(t testing.TB) (*model.Model, *tokenize.Tokenizer) {
	t.Helper()
	const dir = "../../testdata/stories260k"
	return loadModel(t, dir), loadTok(t, dir)
}

// loadLlamaTiny loads llama-tiny (random weights, the vocabulary of stories260k) and its LoRA
// adapter.
func loadLlamaTiny(t testing.TB) (*model.Model, *lora.Adapter) {
	t.Helper()
	m := loadModel(t, "../../testdata/llama-tiny/model")
	ad, err := lora.Load("../../testdata/llama-tiny/adapter", m)
	require.NoError(t, err)
	return m, ad
}

// fullLogProb is the plain computation the scorer must reproduce: encode prompt+candidate with
// the tokenizer's special tokens, run the whole sequence without a cache, and sum the
// log-softmax (float64) of the candidate's tokens.
func fullLogProb(t *testing.T, m *model.Model, tok *tokenize.Tokenizer, ad model.Adapter, text, cand string) float64 {
	t.Helper()
	p, err := tok.Encode(text, true)
	require.NoError(t, err)
	full, err := tok.Encode(text+cand, true)
	require.NoError(t, err)
	require.Greater(t, len(full), len(p))
	require.Equal(t, p, full[:len(p)], "%q + %q must continue the prompt's tokens", text, cand)
	b, err := model.NewBatch([][]int{full}, 0)
	require.NoError(t, err)
	out, err := m.Forward(context.Background(), b, model.Options{Adapter: ad})
	require.NoError(t, err)
	var lp float64
	for k := len(p) - 1; k < len(full)-1; k++ {
		row := out.Row(k)
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		lp += float64(row[full[k+1]]) - mx - math.Log(s)
	}
	return lp
}

// logProbTol is the tolerance on a log-probability: 1e-5, or 1e-6 of its size for unlikely
// candidates (the cached and the full pass take different GEMM paths, whose float32 rounding
// differs by a few ulps of the logits).
func logProbTol(want float64) float64 { return max(1e-5, 1e-6*math.Abs(want)) }

// Prompts of different lengths with single- and multi-token candidates (stories260k writes
// " happy" as one token, " sad" as two, " ballerina" as five).
var storyPrompts = []Prompt{
	{Text: "Once upon a time"},
	{Text: "Lily went to the park.", Prefix: " She was"},
	{Text: "Tom had a big red ball. He liked to play with it every day. One day, the ball was"},
	{Text: "The cat"},
	{Text: "Mom said"},
}

var storyCands = [][]string{
	{" there", " happy", " sad"},
	{" happy", " sad", " ballerina", " NTA"},
	{" lost", " happy"},
	{" sat", " ran", " was"},
	{" no", " yes", " ballerina"},
}

func TestModelScorerMatchesFullForward(t *testing.T) {
	stories, storiesTok := loadStories(t)
	llama, ad := loadLlamaTiny(t)

	cases := []struct {
		name  string
		m     *model.Model
		ad    model.Adapter
		batch int
		cands [][]string
		// threads caps the scorer's passes (Options.Threads)
		threads int
	}{
		{"stories260k default batch", stories, nil, 0, storyCands, 0},
		{"stories260k batches of 2", stories, nil, 2, storyCands, 0},
		{"stories260k batches of 1", stories, nil, 1, storyCands, 0},
		{"stories260k on one thread", stories, nil, 2, storyCands, 1},
		{"stories260k single-token candidates only", stories, nil, 3,
			[][]string{{" there", " happy"}, {" happy"}, {" happy", " lost"}, {" was"}, {" no"}}, 0},
		// llama-tiny has random weights and the same vocabulary size: a check of the adapter
		// path, not of meaningful text.
		{"llama-tiny with its LoRA adapter", llama, ad, 2, storyCands, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.m, storiesTok, Options{BatchSize: tc.batch, Adapter: tc.ad, Threads: tc.threads})
			require.NoError(t, err)
			got, err := s.LogProbs(context.Background(), storyPrompts, tc.cands)
			require.NoError(t, err)
			require.Len(t, got, len(storyPrompts))
			for i, p := range storyPrompts {
				require.Len(t, got[i], len(tc.cands[i]))
				want := make([]float64, len(tc.cands[i]))
				for c, cand := range tc.cands[i] {
					want[c] = fullLogProb(t, tc.m, storiesTok, tc.ad, p.Text+p.Prefix, cand)
					assert.InDelta(t, want[c], got[i][c], logProbTol(want[c]), "prompt %d candidate %q log-prob", i, cand)
					assert.Less(t, got[i][c], 0.0)
				}
				assert.InDeltaSlice(t, Normalize(want, 1), Normalize(got[i], 1), 1e-5, "prompt %d probabilities", i)
			}
		})
	}

	// The adapter changes the numbers (so the case above tests something).
	plain, err := New(llama, storiesTok, Options{})
	require.NoError(t, err)
	withAd, err := New(llama, storiesTok, Options{Adapter: ad})
	require.NoError(t, err)
	a, err := plain.LogProbs(context.Background(), storyPrompts[:1], storyCands[:1])
	require.NoError(t, err)
	b, err := withAd.LogProbs(context.Background(), storyPrompts[:1], storyCands[:1])
	require.NoError(t, err)
	require.Greater(t, math.Abs(a[0][0]-b[0][0]), 1e-3)
}

// Prompts that share a long token prefix (as survey variants share their task text) run the
// prefix once; the numbers are those of full passes, with and without an adapter.
func TestModelScorerSharedPrefix(t *testing.T) {
	stories, tok := loadStories(t)
	llama, ad := loadLlamaTiny(t)
	const task = "Once upon a time, there was a little girl named Lily. She loved to play outside."
	prompts := []Prompt{
		{Text: task + " One day she saw a dog.", Prefix: " It was"},
		{Text: task + " One day she saw a cat.", Prefix: " It was"},
		{Text: task + " She", Prefix: " was"},
		{Text: task, Prefix: " Then"},
	}
	cands := [][]string{{" happy", " sad"}, {" big", " ballerina"}, {" happy", " sad"}, {" she", " the"}}
	for _, tc := range []struct {
		name  string
		m     *model.Model
		ad    model.Adapter
		batch int
	}{
		{"stories260k", stories, nil, 4},
		// Batches of 2: the second batch continues the first one's prefix cache, truncated.
		{"stories260k, prefix reused across batches", stories, nil, 2},
		{"llama-tiny with adapter", llama, ad, 4},
		{"llama-tiny with adapter, batches of 2", llama, ad, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.m, tok, Options{BatchSize: tc.batch, Adapter: tc.ad})
			require.NoError(t, err)
			got, err := s.LogProbs(context.Background(), prompts, cands)
			require.NoError(t, err)
			for i, p := range prompts {
				want := make([]float64, len(cands[i]))
				for c, cand := range cands[i] {
					want[c] = fullLogProb(t, tc.m, tok, tc.ad, p.Text+p.Prefix, cand)
					assert.InDelta(t, want[c], got[i][c], logProbTol(want[c]), "prompt %d candidate %q", i, cand)
				}
				assert.InDeltaSlice(t, Normalize(want, 1), Normalize(got[i], 1), 1e-5, "prompt %d probabilities", i)
			}
		})
	}
}

type qwenChatGolden struct {
	Messages []tokenize.Message `json:"messages"`
	Text     string             `json:"text"`
	IDs      []int              `json:"ids"`
}

func loadQwenGoldens(t *testing.T) (chat qwenChatGolden, verdicts map[string][]int) {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/tokenizer_goldens.json")
	require.NoError(t, err)
	var g struct {
		Qwen3 struct {
			Chat     qwenChatGolden   `json:"chat"`
			Verdicts map[string][]int `json:"verdicts"`
		} `json:"qwen3"`
	}
	require.NoError(t, json.Unmarshal(raw, &g))
	require.Len(t, g.Qwen3.Chat.Messages, 2)
	return g.Qwen3.Chat, g.Qwen3.Verdicts
}

// With the Qwen3 tokenizer the chat path renders and encodes as transformers does
// (apply_chat_template with enable_thinking=False), and candidates are tokenised as they
// follow the generation prompt. qwen3-tiny's vocabulary (512) is smaller than the tokenizer's,
// so scoring it is an error that says so.
func TestModelScorerQwen3Chat(t *testing.T) {
	tok := loadTok(t, "../../testdata/qwen3-tokenizer")
	m := loadModel(t, "../../testdata/qwen3-tiny/model")
	chat, verdicts := loadQwenGoldens(t)
	s, err := New(m, tok, Options{Chat: tokenize.Chat{Enabled: true, System: chat.Messages[0].Content}})
	require.NoError(t, err)
	p := Prompt{Text: chat.Messages[1].Content}

	text, err := s.Render(p)
	require.NoError(t, err)
	require.Equal(t, chat.Text, text)
	cands := []string{"NTA", "YTA", "Neutral", "A"}
	ids, candIDs, err := s.Tokens(p, cands)
	require.NoError(t, err)
	require.Equal(t, chat.IDs, ids)
	for i, c := range cands {
		require.Equal(t, verdicts[c], candIDs[i], "candidate %q", c)
	}

	// Prefix starts the assistant turn.
	p.Prefix = "Verdict:"
	text, err = s.Render(p)
	require.NoError(t, err)
	require.Equal(t, chat.Text+"Verdict:", text)
	_, candIDs, err = s.Tokens(p, []string{" NTA", " YTA"})
	require.NoError(t, err)
	require.Equal(t, [][]int{verdicts[" NTA"], verdicts[" YTA"]}, candIDs)

	// Chat.Vars override the enable_thinking default.
	thinking, err := New(m, tok, Options{Chat: tokenize.Chat{Enabled: true, System: chat.Messages[0].Content,
		Vars: map[string]any{"enable_thinking": true}}})
	require.NoError(t, err)
	text, err = thinking.Render(Prompt{Text: chat.Messages[1].Content})
	require.NoError(t, err)
	require.Equal(t, strings.TrimSuffix(chat.Text, "<think>\n\n</think>\n\n"), text)

	_, err = s.LogProbs(context.Background(), []Prompt{p}, [][]string{{" NTA"}})
	require.ErrorContains(t, err, "outside the model's vocabulary of 512")
}

func TestModelScorerErrors(t *testing.T) {
	m, tok := loadStories(t)
	ctx := context.Background()

	_, err := New(nil, tok, Options{})
	require.ErrorContains(t, err, "nil model")
	_, err = New(m, tok, Options{BatchSize: -1})
	require.ErrorContains(t, err, "batch size -1")
	_, err = New(m, tok, Options{Chat: tokenize.Chat{Enabled: true}})
	require.ErrorContains(t, err, "no chat_template")

	s, err := New(m, tok, Options{})
	require.NoError(t, err)
	_, err = s.LogProbs(ctx, storyPrompts, storyCands[:2])
	require.ErrorContains(t, err, "5 prompts but 2 candidate lists")

	// A prompt ending inside a word: "t" would be read from the wrong position.
	_, err = s.LogProbs(ctx, []Prompt{{Text: "The c", Prefix: "a"}}, [][]string{{"t", "r"}})
	var be *tokenize.BoundaryError
	require.ErrorAs(t, err, &be)
	require.Equal(t, "t", be.Answer)
	require.ErrorContains(t, err, `prompt 0 ("The ca"): candidate "t"`)

	// A prompt ending in a space that merges with the candidates: the space moves into them.
	spaced, err := s.LogProbs(ctx, []Prompt{{Text: "Is it nice?", Prefix: " Answer: "}}, [][]string{{"no", "yes"}})
	require.NoError(t, err)
	moved, err := s.LogProbs(ctx, []Prompt{{Text: "Is it nice?", Prefix: " Answer:"}}, [][]string{{" no", " yes"}})
	require.NoError(t, err)
	require.Equal(t, moved, spaced)

	_, err = s.LogProbs(ctx, []Prompt{{Text: "The cat"}}, [][]string{{" sat", ""}})
	require.ErrorContains(t, err, "answers[1] is empty")

	// A prompt without candidates gets an empty row and costs nothing.
	got, err := s.LogProbs(ctx, []Prompt{{Text: "The cat"}, {Text: "Mom said"}}, [][]string{nil, {" no"}})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Empty(t, got[0])
	require.Len(t, got[1], 1)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.LogProbs(cancelled, storyPrompts, storyCands)
	require.ErrorIs(t, err, context.Canceled)
}

// cancelAdapter cancels a context when the forward pass first reaches it, adding nothing.
type cancelAdapter struct{ cancel context.CancelFunc }

func (c cancelAdapter) AddDelta(int, model.Proj, []float32, []float32, int) { c.cancel() }

// Cancelling while the model runs stops the scorer with the context's error.
func TestModelScorerCancelDuringWork(t *testing.T) {
	m, tok := loadStories(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(m, tok, Options{Adapter: cancelAdapter{cancel}})
	require.NoError(t, err)
	_, err = s.LogProbs(ctx, storyPrompts, storyCands)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "scoring a batch of 5 prompts")
}

func BenchmarkScorer(b *testing.B) {
	m := loadModel(b, "../../testdata/stories260k")
	tok := loadTok(b, "../../testdata/stories260k")
	s, err := New(m, tok, Options{})
	require.NoError(b, err)
	var prompts []Prompt
	var cands [][]string
	for i := range 64 {
		p := storyPrompts[i%len(storyPrompts)]
		p.Text = strings.Repeat("Lily was happy. ", i%4) + p.Text
		prompts = append(prompts, p)
		cands = append(cands, []string{" happy", " sad", " ballerina"})
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.LogProbs(ctx, prompts, cands); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(prompts))/b.Elapsed().Seconds(), "prompts/s")
}

// Chat returns the scorer's prompt format (for train.Encode), as a copy.
func TestModelScorerChat(t *testing.T) {
	tok := loadTok(t, "../../testdata/qwen3-tokenizer")
	m := loadModel(t, "../../testdata/qwen3-tiny/model")
	vars := map[string]any{"enable_thinking": true}
	want := tokenize.Chat{Enabled: true, System: "Be brief.", Vars: map[string]any{"enable_thinking": true}}
	s, err := New(m, tok, Options{Chat: tokenize.Chat{Enabled: true, System: "Be brief.", Vars: vars}})
	require.NoError(t, err)
	vars["enable_thinking"] = false // the caller's map changing later does not change the scorer
	got := s.Chat()
	require.Equal(t, want, got)
	got.Vars["enable_thinking"] = false
	require.Equal(t, want, s.Chat(), "the returned format is a copy")
}
