// Package prefix finds the token prefixes that sequences share, so that a batch can run a
// common prefix once: the scorer (package eval/score) runs it once through the model and continues
// its key/value cache in every row; the trainer (package train) runs it once per group of rows
// in the training graph and sends the rows' summed gradients back through it. Both lay a batch
// out the same way: each row's own tokens follow its prefix, left-padded, with positions that
// continue the prefix's.
package prefix

import (
	"slices"
)

// Common is the length of the longest common prefix of a and b.
func Common(a, b []int) int {
	k := 0
	for k < len(a) && k < len(b) && a[k] == b[k] {
		k++
	}
	return k
}

// Shared is the length of the prefix every row shares when each row keeps at least keep tokens
// of its own (0 for no rows).
func Shared(rows [][]int, keep int) int {
	if len(rows) == 0 {
		return 0
	}
	shared := max(0, len(rows[0])-keep)
	for _, r := range rows[1:] {
		shared = min(shared, Common(r[:max(0, len(r)-keep)], rows[0]))
	}
	return shared
}

// Group is a set of rows of a batch that run a common prefix of Len tokens once.
type Group struct {
	Len  int   // prefix tokens, shared by every row of the group
	Rows []int // the rows, ascending
}

// Layout is a batch split into prefix segments and the rows' own tokens: G = len(Groups)
// prefixes, each left-padded to P tokens, and every row's remaining tokens left-padded to S.
// Rows in no group (Group[r] < 0) keep all their tokens.
type Layout struct {
	Groups []Group
	Group  []int // per row: its index in Groups, or -1
	P, S   int
	Cost   int // G·P + B·S: the token slots the layout runs
	Full   int // B·T: the slots of the batch run without sharing (T: the longest row, rounded)
}

// Shared reports whether the layout runs any prefix once for several rows.
func (l Layout) Shared() bool { return len(l.Groups) > 0 }

// Plan chooses how a batch shares prefixes: which rows form groups (rows whose common prefix is
// longest run together), how much of each group's common prefix runs once, and the lengths P
// and S (rounded up to multiples of quantum), so that the token slots G·P + B·S are fewest. own[r]
// is the number of trailing tokens row r must keep for itself (the tokens whose logits the
// caller reads, and the tokens after them). A layout that does not save at least a tenth of
// the slots of the unshared batch (B rows of the longest length) has no groups.
func Plan(rows [][]int, own []int, quantum int) Layout {
	B := len(rows)
	quantum = max(1, quantum)
	up := func(n int) int { return (n + quantum - 1) / quantum * quantum }
	longest := 0
	for _, r := range rows {
		longest = max(longest, len(r))
	}
	best := Layout{Group: slices.Repeat([]int{-1}, B), S: up(longest), Full: B * up(longest)}
	best.Cost = best.Full
	if B < 2 {
		return best
	}
	order := make([]int, B)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return slices.Compare(rows[a], rows[b]) })
	adj := make([]int, B-1) // common prefix of neighbours in sorted order
	for i := range adj {
		adj[i] = Common(rows[order[i]], rows[order[i+1]])
	}
	// A threshold tau splits the sorted rows where neighbours share fewer than tau tokens; in
	// sorted order a run's common prefix is the least of its neighbours'.
	taus := slices.Compact(slices.Sorted(slices.Values(adj)))
	type run struct {
		rows        []int
		cap, maxLen int // most prefix tokens it can share, its longest row
	}
	found := false
	var bestRuns []run
	var bestQ []int
	for _, tau := range taus {
		if tau == 0 {
			continue
		}
		var runs []run
		start := 0
		for i := 0; i <= len(adj); i++ {
			if i < len(adj) && adj[i] >= tau {
				continue
			}
			rs := order[start : i+1]
			c := len(rows[rs[0]])
			if len(rs) > 1 {
				c = slices.Min(adj[start:i])
			}
			ml := 0
			for _, r := range rs {
				c = min(c, len(rows[r])-own[r])
				ml = max(ml, len(rows[r]))
			}
			runs = append(runs, run{rows: rs, cap: max(0, c), maxLen: ml})
			start = i + 1
		}
		smin := 0
		for _, r := range runs {
			if len(r.rows) > 1 {
				smin = max(smin, r.maxLen-r.cap)
			} else {
				smin = max(smin, r.maxLen) // a row alone runs all its tokens with the rows
			}
		}
		for s := up(max(1, smin)); s <= up(longest); s += quantum {
			g, p := 0, 0
			for _, r := range runs {
				if q := r.maxLen - s; len(r.rows) > 1 && q > 0 {
					g++
					p = max(p, q)
				}
			}
			if g == 0 {
				continue
			}
			if cost := g*up(p) + B*s; cost < best.Cost {
				q := make([]int, len(runs))
				for i, r := range runs {
					if len(r.rows) > 1 {
						q[i] = max(0, r.maxLen-s)
					}
				}
				best.Cost, best.S, best.P = cost, s, up(p)
				bestRuns, bestQ, found = runs, q, true
			}
		}
	}
	if !found || 10*best.Cost > 9*best.Full {
		return Layout{Group: slices.Repeat([]int{-1}, B), S: up(longest), Cost: best.Full, Full: best.Full}
	}
	for i, r := range bestRuns {
		if bestQ[i] == 0 {
			continue
		}
		rs := slices.Sorted(slices.Values(r.rows))
		for _, x := range rs {
			best.Group[x] = len(best.Groups)
		}
		best.Groups = append(best.Groups, Group{Len: bestQ[i], Rows: rs})
	}
	return best
}

// Order returns the indices of seqs in an order that puts sequences with common prefixes next
// to each other while staying random: the sequences form a tree by shared prefix (first
// clusters that share at least minShared tokens, then within a cluster ever longer common
// prefixes), and shuffle permutes the children of every node (shuffle(n, swap) as
// math/rand's Shuffle). Sequences that share fewer than minShared tokens with any other are
// left out of the order and returned in alone, in ascending order.
func Order(seqs [][]int, minShared int, shuffle func(n int, swap func(i, j int))) (order, alone []int) {
	idx := make([]int, len(seqs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return slices.Compare(seqs[a], seqs[b]) })
	adj := make([]int, max(0, len(idx)-1))
	for i := range adj {
		adj[i] = Common(seqs[idx[i]], seqs[idx[i+1]])
	}
	// top level: clusters of neighbours sharing at least minShared tokens
	var clusters [][2]int
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && adj[hi-1] >= max(1, minShared) {
			hi++
		}
		if hi-lo == 1 {
			alone = append(alone, idx[lo])
		} else {
			clusters = append(clusters, [2]int{lo, hi})
		}
		lo = hi
	}
	slices.Sort(alone)
	shuffle(len(clusters), func(i, j int) { clusters[i], clusters[j] = clusters[j], clusters[i] })
	var walk func(lo, hi int)
	walk = func(lo, hi int) {
		if hi-lo == 1 {
			order = append(order, idx[lo])
			return
		}
		common := slices.Min(adj[lo : hi-1])
		var kids [][2]int
		for a := lo; a < hi; {
			b := a + 1
			for b < hi && adj[b-1] > common {
				b++
			}
			kids = append(kids, [2]int{a, b})
			a = b
		}
		if len(kids) == 1 { // identical sequences: shuffle them as leaves
			leaves := slices.Clone(idx[lo:hi])
			shuffle(len(leaves), func(i, j int) { leaves[i], leaves[j] = leaves[j], leaves[i] })
			order = append(order, leaves...)
			return
		}
		shuffle(len(kids), func(i, j int) { kids[i], kids[j] = kids[j], kids[i] })
		for _, k := range kids {
			walk(k[0], k[1])
		}
	}
	for _, c := range clusters {
		walk(c[0], c[1])
	}
	return order, alone
}
