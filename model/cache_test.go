package model

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Different batch shapes take different GEMM paths (the packed kernel for 8 or more rows, dot
// products below), whose float32 rounding differs by a few ulps of the logits.
const cacheTol = 5e-5

var cacheFixtures = []string{"llama-tiny/model", "qwen3-tiny/model", "stories260k"}

func randRows(seed uint64, vocab int, lens ...int) [][]int {
	rng := rand.New(rand.NewPCG(seed, 7))
	rows := make([][]int, len(lens))
	for i, n := range lens {
		for range n {
			rows[i] = append(rows[i], 3+rng.IntN(vocab-3))
		}
	}
	return rows
}

// shiftAdapter is a toy Adapter: it adds 0.05 * x[:, j % in] to output column j of the
// projections it covers, enough to change every logit.
type shiftAdapter struct{}

func (shiftAdapter) AddDelta(layer int, p Proj, y, x []float32, m int) {
	if p != ProjV && p != ProjDown && p != ProjK {
		return
	}
	out, in := len(y)/m, len(x)/m
	for r := 0; r < m; r++ {
		for j := 0; j < out; j++ {
			y[r*out+j] += 0.05 * float32(layer+1) * x[r*in+j%in]
		}
	}
}

// fullLogits runs prefix+rest of every row without a cache (left-padded) and returns, per row,
// the logits of each of its real tokens.
func fullLogits(t *testing.T, m *Model, rows [][]int, ad Adapter) [][][]float32 {
	t.Helper()
	b, err := NewBatch(rows, 0)
	require.NoError(t, err)
	out, err := m.Forward(context.Background(), b, Options{Adapter: ad})
	require.NoError(t, err)
	res := make([][][]float32, len(rows))
	for i, r := range rows {
		for j := b.T - len(r); j < b.T; j++ {
			res[i] = append(res[i], out.Row(i*b.T+j))
		}
	}
	return res
}

func requireRowsClose(t *testing.T, want, got []float32, msg string, args ...any) {
	t.Helper()
	d := maxAbsDiff(want, got, nil)
	require.LessOrEqualf(t, d, cacheTol, msg, args...)
}

// Forward(prefix) then Forward(rest, cache) gives the logits of Forward(prefix+rest).
func TestCacheContinuesPrefix(t *testing.T) {
	ctx := context.Background()
	for _, fx := range cacheFixtures {
		m := loadModel(t, filepath.Join("..", "testdata", fx))
		for _, tc := range []struct {
			name    string
			prefix  []int // prefix lengths per row
			chunks  []int // lengths of the continuation passes (same for every row)
			adapter Adapter
		}{
			{"equal prefixes", []int{7, 7}, []int{4}, nil},
			{"left-padded prefixes", []int{9, 3, 6}, []int{5}, nil},
			{"token by token", []int{2, 8}, []int{1, 1, 1}, nil},
			{"chunks with adapter", []int{5, 1}, []int{3, 1, 2}, shiftAdapter{}},
		} {
			t.Run(fx+"/"+tc.name, func(t *testing.T) {
				total := 0
				for _, c := range tc.chunks {
					total += c
				}
				lens := make([]int, len(tc.prefix))
				for i, p := range tc.prefix {
					lens[i] = p + total
				}
				rows := randRows(uint64(len(tc.name)), m.Config.VocabSize, lens...)
				want := fullLogits(t, m, rows, tc.adapter)

				prefixes := make([][]int, len(rows))
				for i, r := range rows {
					prefixes[i] = r[:tc.prefix[i]]
				}
				var cache Cache
				pb, err := NewBatch(prefixes, 0)
				require.NoError(t, err)
				out, err := m.Forward(ctx, pb, Options{Cache: &cache, Adapter: tc.adapter})
				require.NoError(t, err)
				for i, p := range tc.prefix {
					for j := 0; j < p; j++ {
						requireRowsClose(t, want[i][j], out.Row(i*pb.T+pb.T-p+j), "prefix row %d token %d", i, j)
					}
				}
				require.Equal(t, pb.T, cache.Len())
				done := 0
				for _, c := range tc.chunks {
					b := Batch{B: len(rows), T: c}
					for i, r := range rows {
						for j := 0; j < c; j++ {
							b.IDs = append(b.IDs, int32(r[tc.prefix[i]+done+j]))
						}
					}
					out, err := m.Forward(ctx, b, Options{Cache: &cache, Adapter: tc.adapter})
					require.NoError(t, err)
					for i := range rows {
						for j := 0; j < c; j++ {
							requireRowsClose(t, want[i][tc.prefix[i]+done+j], out.Row(i*c+j), "row %d token %d", i, tc.prefix[i]+done+j)
						}
						require.Equal(t, tc.prefix[i]+done+c, cache.NextPos(i))
					}
					done += c
				}
				require.Equal(t, pb.T+total, cache.Len())
			})
		}
		m.Close()
	}
}

// One prompt batch, expanded to several right-padded continuations per prompt.
func TestCacheExpandAndSelect(t *testing.T) {
	ctx := context.Background()
	for _, fx := range cacheFixtures {
		t.Run(fx, func(t *testing.T) {
			m := loadModel(t, filepath.Join("..", "testdata", fx))
			v := m.Config.VocabSize
			prompts := randRows(1, v, 6, 2)
			conts := randRows(2, v, 3, 1, 2, 3) // prompt 0: conts 0,1; prompt 1: conts 2,3
			var cache Cache
			pb, err := NewBatch(prompts, 0)
			require.NoError(t, err)
			_, err = m.Forward(ctx, pb, Options{Cache: &cache})
			require.NoError(t, err)

			check := func(c *Cache, owner []int) {
				t.Helper()
				b := Batch{B: len(owner), T: 3, IDs: make([]int32, len(owner)*3), Mask: make([]float32, len(owner)*3)}
				for i := range owner {
					for j, id := range conts[i] {
						b.IDs[i*3+j] = int32(id)
						b.Mask[i*3+j] = 1
					}
				}
				out, err := m.Forward(ctx, b, Options{Cache: c})
				require.NoError(t, err)
				for i, p := range owner {
					full := append(append([]int(nil), prompts[p]...), conts[i]...)
					want := fullLogits(t, m, [][]int{full}, nil)[0]
					for j := range conts[i] {
						requireRowsClose(t, want[len(prompts[p])+j], out.Row(i*3+j), "continuation %d token %d", i, j)
					}
					// The next position follows the real tokens only.
					require.Equal(t, len(full), c.NextPos(i))
				}
			}
			ex, err := cache.Expand(2)
			require.NoError(t, err)
			require.Equal(t, 4, ex.Rows())
			check(ex, []int{0, 0, 1, 1})

			sel, err := cache.Select([]int{1, 0, 1, 0})
			require.NoError(t, err)
			check(sel, []int{1, 0, 1, 0})

			// The original is untouched and can still be continued; so can a clone of it.
			require.Equal(t, pb.T, cache.Len())
			cl := cache.Clone()
			check(&cache, []int{0, 1})
			check(cl, []int{0, 1})

			_, err = cache.Select([]int{0, 2})
			require.ErrorContains(t, err, "rows[1]=2 outside the cache's 2 rows")
			_, err = cache.Expand(0)
			require.ErrorContains(t, err, "factor 0")
		})
	}
}

func TestCacheErrorsLeaveItUnchanged(t *testing.T) {
	m := loadModel(t, "../testdata/stories260k")
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	rows := randRows(3, m.Config.VocabSize, 5, 5)

	// A failed first pass leaves the cache empty: it then accepts any batch size.
	var cache Cache
	pb, err := NewBatch(rows, 0)
	require.NoError(t, err)
	_, err = m.Forward(cancelled, pb, Options{Cache: &cache})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 0, cache.Rows())
	one, err := NewBatch(rows[:1], 0)
	require.NoError(t, err)
	_, err = m.Forward(ctx, one, Options{Cache: &cache})
	require.NoError(t, err)

	cache = Cache{}
	_, err = m.Forward(ctx, pb, Options{Cache: &cache})
	require.NoError(t, err)
	step := Batch{B: 2, T: 1, IDs: []int32{7, 9}}
	_, err = m.Forward(ctx, Batch{B: 1, T: 1, IDs: []int32{7}}, Options{Cache: &cache})
	require.ErrorContains(t, err, "cache holds 2 rows, batch has 1")
	_, err = m.Forward(cancelled, Batch{B: 2, T: 40, IDs: make([]int32, 80)}, Options{Cache: &cache})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 5, cache.Len())
	out, err := m.Forward(ctx, step, Options{Cache: &cache})
	require.NoError(t, err)
	want := fullLogits(t, m, [][]int{append(rows[0], 7), append(rows[1], 9)}, nil)
	requireRowsClose(t, want[0][5], out.Row(0), "row 0 after a cancelled pass")
	requireRowsClose(t, want[1][5], out.Row(1), "row 1 after a cancelled pass")

	other := loadModel(t, "../testdata/qwen3-tiny/model")
	_, err = other.Forward(ctx, step, Options{Cache: &cache})
	require.ErrorContains(t, err, "cache was filled by a model with 5 layers")
}

// Truncate keeps a prefix of the cache: continuing it with other tokens gives the logits of
// full passes over prefix + those tokens.
func TestCacheTruncate(t *testing.T) {
	m := loadModel(t, filepath.Join("..", "testdata", "stories260k"))
	ctx := context.Background()
	rows := randRows(11, m.Config.VocabSize, 12)
	var c Cache
	b, err := NewBatch(rows, 0)
	require.NoError(t, err)
	b.Pos = nil
	_, err = m.Forward(ctx, b, Options{Rows: []int{}, Cache: &c})
	require.NoError(t, err)
	require.Error(t, c.Truncate(13))
	require.NoError(t, c.Truncate(7))
	require.Equal(t, 7, c.Len())
	require.Equal(t, 7, c.NextPos(0))
	tail := []int{5, 9, 200}
	nb, err := NewBatch([][]int{tail}, 0)
	require.NoError(t, err)
	nb.Pos = nil
	got, err := m.Forward(ctx, nb, Options{Cache: &c})
	require.NoError(t, err)
	want := fullLogits(t, m, [][]int{append(append([]int(nil), rows[0][:7]...), tail...)}, nil)
	for i := range tail {
		requireRowsClose(t, want[0][7+i], got.Row(i), "token %d after the truncated prefix", i)
	}
}
