package score

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/model"
)

// Greedy batched generation equals model.Generate prompt by prompt, and sampled replies do not
// depend on the batch size (each prompt has its own seeded stream).
func TestModelScorerGenerate(t *testing.T) {
	m, tok := loadStories(t)
	prompts := []Prompt{
		{Text: "Once upon a time, there was a little", Prefix: " girl"},
		{Text: "Once upon a time, there was a big"},
		{Text: "The cat sat on the"},
		{Text: "Once upon a time, there was a little", Prefix: " boy"},
	}
	ctx := context.Background()
	const n = 6
	for _, bs := range []int{1, 3} {
		s, err := New(m, tok, Options{BatchSize: bs})
		require.NoError(t, err)
		got, err := s.Generate(ctx, prompts, GenerateOptions{MaxTokens: n})
		require.NoError(t, err)
		for i, p := range prompts {
			ids, err := tok.Encode(p.Text+p.Prefix, true)
			require.NoError(t, err)
			full, err := m.Generate(ctx, ids, n, model.GenerateOptions{StopAtEOS: true})
			require.NoError(t, err)
			gen := full[len(ids):]
			if len(gen) > 0 && gen[len(gen)-1] == m.Config.EOSTokenIDs[0] {
				gen = gen[:len(gen)-1]
			}
			want, err := tok.Decode(gen, true)
			require.NoError(t, err)
			require.Equal(t, want, got[i], "batch %d prompt %d", bs, i)
		}
	}
	var replies [][]string
	for _, bs := range []int{1, 4} {
		s, err := New(m, tok, Options{BatchSize: bs})
		require.NoError(t, err)
		r, err := s.Generate(ctx, prompts, GenerateOptions{MaxTokens: n, Temperature: 0.5, Seed: 7})
		require.NoError(t, err)
		replies = append(replies, r)
	}
	require.Equal(t, replies[0], replies[1])

	// Stop ends a reply early.
	s, err := New(m, tok, Options{})
	require.NoError(t, err)
	r, err := s.Generate(ctx, prompts[:1], GenerateOptions{MaxTokens: 8, Stop: func(string) bool { return true }})
	require.NoError(t, err)
	require.LessOrEqual(t, len(strings.Fields(r[0])), 1)

	_, err = s.Generate(ctx, prompts, GenerateOptions{})
	require.ErrorContains(t, err, "MaxTokens")
}
