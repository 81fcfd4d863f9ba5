package tokenize

import (
	"container/heap"
	"unicode/utf8"
)

// bpeWord appends the BPE ids of one pre-tokenized piece to out, as Hugging Face's BPE model
// does: ignore_merges (whole piece in the vocabulary), characters outside the vocabulary as
// byte-fallback tokens <0xXX> or <unk> (fused when fuse_unk), then merges applied lowest rank
// first and, among equal ranks, leftmost first.
func (t *Tokenizer) bpeWord(piece string, out []int) []int {
	if piece == "" {
		return out
	}
	if ids, ok := t.cache.get(piece); ok {
		return append(out, ids...)
	}
	ids := t.bpeUncached(piece)
	t.cache.put(piece, ids)
	return append(out, ids...)
}

func (t *Tokenizer) bpeUncached(piece string) []int {
	if t.ignoreMerges {
		if id, ok := t.vocab[piece]; ok {
			return []int{id}
		}
	}
	syms := make([]symbol, 0, len(piece))
	lastUnk := false
	for i, r := range piece {
		s := string(r)
		if i > 0 && t.contPrefix != "" {
			s = t.contPrefix + s
		}
		if i+utf8.RuneLen(r) == len(piece) && t.wordSuffix != "" {
			s += t.wordSuffix
		}
		if id, ok := t.vocab[s]; ok {
			syms = append(syms, symbol{id: id})
			lastUnk = false
			continue
		}
		if t.byteFallback {
			var bids []int
			for _, b := range []byte(string(r)) {
				if t.byteIDs[b] < 0 {
					bids = nil
					break
				}
				bids = append(bids, t.byteIDs[b])
			}
			if bids != nil {
				for _, id := range bids {
					syms = append(syms, symbol{id: id})
				}
				lastUnk = false
				continue
			}
		}
		if t.unkID < 0 {
			// Hugging Face drops a character it cannot represent when there is no unk token.
			continue
		}
		if t.fuseUnk && lastUnk {
			continue
		}
		syms = append(syms, symbol{id: t.unkID})
		lastUnk = true
	}
	return t.mergeSymbols(syms)
}

// symbol is one node of the doubly linked list of current tokens of a word.
type symbol struct {
	id         int
	prev, next int // -1 at the ends
	gone       bool
}

// cand is a possible merge of the symbol at pos with its right neighbour.
type cand struct {
	pos, rank, id int
}

type candHeap []cand

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(cand)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeSymbols applies the merges to syms and returns the resulting ids.
func (t *Tokenizer) mergeSymbols(syms []symbol) []int {
	n := len(syms)
	for i := range syms {
		syms[i].prev, syms[i].next = i-1, i+1
	}
	if n > 0 {
		syms[n-1].next = -1
	}
	h := make(candHeap, 0, n)
	push := func(pos int) {
		nx := syms[pos].next
		if nx < 0 {
			return
		}
		if m, ok := t.merges[pairKey(syms[pos].id, syms[nx].id)]; ok {
			heap.Push(&h, cand{pos: pos, rank: m.rank, id: m.id})
		}
	}
	for i := 0; i < n-1; i++ {
		push(i)
	}
	for h.Len() > 0 {
		c := heap.Pop(&h).(cand)
		s := &syms[c.pos]
		// Skip stale candidates. Like Hugging Face, a candidate stays valid when the pair now at
		// pos still merges into the same token.
		if s.gone || s.next < 0 {
			continue
		}
		if m, ok := t.merges[pairKey(s.id, syms[s.next].id)]; !ok || m.id != c.id {
			continue
		}
		r := &syms[s.next]
		s.id = c.id
		r.gone = true
		s.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = c.pos
		}
		if s.prev >= 0 {
			push(s.prev)
		}
		push(c.pos)
	}
	ids := make([]int, 0, n)
	for i := 0; n > 0 && i >= 0; i = syms[i].next {
		ids = append(ids, syms[i].id)
	}
	return ids
}
