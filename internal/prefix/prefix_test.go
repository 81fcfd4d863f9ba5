package prefix

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func seq(lo, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = lo + i
	}
	return out
}

func TestCommonAndShared(t *testing.T) {
	for _, tc := range []struct {
		a, b []int
		want int
	}{{nil, nil, 0}, {[]int{1, 2}, []int{1, 2, 3}, 2}, {[]int{1, 2}, []int{2}, 0}, {[]int{4, 5, 6}, []int{4, 5, 6}, 3}} {
		require.Equal(t, tc.want, Common(tc.a, tc.b))
	}
	rows := [][]int{{1, 2, 3, 4}, {1, 2, 3, 9, 9}, {1, 2, 3}}
	require.Equal(t, 2, Shared(rows, 1)) // the last row keeps its 3
	require.Equal(t, 3, Shared(rows[:2], 1))
	require.Equal(t, 0, Shared(nil, 1))
	require.Equal(t, 3, Shared(rows[:1], 1))
}

func TestPlan(t *testing.T) {
	a, b := seq(100, 40), seq(200, 24)
	cat := func(p []int, own ...int) []int { return slices.Concat(p, own) }
	t.Run("two groups and a row alone", func(t *testing.T) {
		rows := [][]int{cat(a, 1, 2), cat(b, 3), cat(a, 4), cat(seq(500, 10)), cat(b, 5, 6, 7), cat(a, 8, 9, 10)}
		own := []int{2, 2, 2, 2, 2, 2}
		l := Plan(rows, own, 8)
		require.True(t, l.Shared())
		require.Len(t, l.Groups, 2)
		require.Equal(t, -1, l.Group[3])
		for g, gp := range l.Groups {
			for _, r := range gp.Rows {
				require.Equal(t, g, l.Group[r])
				require.LessOrEqual(t, gp.Len, len(rows[r])-own[r])
				require.Equal(t, rows[gp.Rows[0]][:gp.Len], rows[r][:gp.Len])
				require.LessOrEqual(t, len(rows[r])-gp.Len, l.S)
			}
			require.LessOrEqual(t, gp.Len, l.P)
		}
		require.LessOrEqual(t, len(rows[3]), l.S)
		require.Equal(t, len(l.Groups)*l.P+len(rows)*l.S, l.Cost)
		require.Equal(t, 6*48, l.Full)
		require.Less(t, l.Cost, l.Full)
	})
	t.Run("nothing shared", func(t *testing.T) {
		rows := [][]int{seq(0, 20), seq(50, 30), seq(90, 5)}
		l := Plan(rows, []int{1, 1, 1}, 8)
		require.False(t, l.Shared())
		require.Equal(t, []int{-1, -1, -1}, l.Group)
		require.Equal(t, 32, l.S)
		require.Equal(t, l.Full, l.Cost)
	})
	t.Run("a prefix too short to pay", func(t *testing.T) {
		rows := [][]int{cat(seq(0, 2), seq(10, 30)...), cat(seq(0, 2), seq(50, 30)...)}
		require.False(t, Plan(rows, []int{1, 1}, 8).Shared())
	})
	t.Run("the rows keep their own tokens", func(t *testing.T) {
		rows := [][]int{cat(a, 1), cat(a, 1)} // identical rows
		l := Plan(rows, []int{2, 2}, 1)
		require.True(t, l.Shared())
		require.Equal(t, 39, l.Groups[0].Len)
	})
}

func TestOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var seqs [][]int
	tasks := [][]int{seq(1000, 30), seq(2000, 25)}
	for s := range 6 {
		for m := range 4 {
			task := tasks[s%2]
			seqs = append(seqs, slices.Concat(task, seq(3000+100*s, 10), []int{4000 + m}))
		}
	}
	seqs = append(seqs, seq(7000, 5), seq(8000, 50))
	order, alone := Order(seqs, 16, rng.Shuffle)
	require.Equal(t, []int{24, 25}, alone)
	require.ElementsMatch(t, seq(0, 24), order)
	// Rows of one statement are next to each other, and so are the statements of one task.
	pos := make([]int, len(seqs))
	for i, x := range order {
		pos[x] = i
	}
	for s := range 6 {
		var ps []int
		for m := range 4 {
			ps = append(ps, pos[4*s+m])
		}
		require.Equal(t, 3, slices.Max(ps)-slices.Min(ps), "statement %d", s)
	}
	for task := range 2 {
		var ps []int
		for i := range 24 {
			if (i/4)%2 == task {
				ps = append(ps, pos[i])
			}
		}
		require.Equal(t, 11, slices.Max(ps)-slices.Min(ps), "task %d", task)
	}
	again, _ := Order(seqs, 16, rand.New(rand.NewPCG(1, 2)).Shuffle)
	require.Equal(t, order, again, "the same seed, the same order")
	other, _ := Order(seqs, 16, rand.New(rand.NewPCG(3, 4)).Shuffle)
	require.NotEqual(t, order, other, "another seed, another order")
}
