package model

import "fmt"

// Cache holds the keys and values of the tokens a batch has seen so far (a key/value cache), so
// that a forward pass can continue a prefix without recomputing it. A zero Cache is empty and
// ready: the first Forward with Options.Cache set runs the prefix and fills it; each later
// Forward with the same cache appends its batch's tokens after the cached ones. Select, Expand
// and Clone copy a cache so that one prefix can be continued in several ways (a prompt
// computed once, then each of its candidate answers).
//
// Per layer it stores K and V after the rotary embedding (and Qwen3's k-norm), laid out
// [rows, slots, kv heads, head dim], with the padding mask of every cached token and each row's
// next position id. The values depend on the Adapter of the forward passes that filled it: keep
// using the same adapter. A Cache is not safe for concurrent use; a failed Forward (a cancelled
// context, a bad batch) leaves it as it was.
type Cache struct {
	rows, n, slots int // batch rows, cached tokens per row, allocated slots per row
	layers, kvd    int
	reserve        int         // slots wanted beyond n at the next allocation
	k, v           [][]float32 // per layer [rows, slots, kvd]
	mask           []float32   // [rows, slots]: 1 real token, 0 padding
	next           []int32     // per row: position id of the row's next real token
}

// Len is the number of cached tokens per row (padding included).
func (c *Cache) Len() int { return c.n }

// Rows is the cache's batch size (0 while empty).
func (c *Cache) Rows() int { return c.rows }

// NextPos returns the position id the next token of row r gets when Batch.Pos is nil: the
// number of real (unpadded) tokens cached in the row when positions started at 0.
func (c *Cache) NextPos(r int) int {
	if r < 0 || r >= len(c.next) {
		return 0
	}
	return int(c.next[r])
}

// Reserve makes room for extra more tokens per row, so that forward passes adding up to extra
// tokens in all do not reallocate. On an empty cache it sizes the first allocation. Without
// it, a cache grows by doubling.
func (c *Cache) Reserve(extra int) {
	if extra <= 0 {
		return
	}
	if c.rows == 0 {
		c.reserve = max(c.reserve, extra)
		return
	}
	c.grow(c.n + extra)
}

// grow makes the cache hold at least need slots per row, keeping its contents.
func (c *Cache) grow(need int) {
	if need <= c.slots {
		return
	}
	slots := max(need, 2*c.slots)
	for l := range c.k {
		c.k[l] = regrid(c.k[l], c.rows, c.slots, slots, c.n, c.kvd)
		c.v[l] = regrid(c.v[l], c.rows, c.slots, slots, c.n, c.kvd)
	}
	c.mask = regrid(c.mask, c.rows, c.slots, slots, c.n, 1)
	c.slots = slots
}

// regrid copies the first n slots of each row of src [rows, from, w] into a new [rows, to, w].
func regrid(src []float32, rows, from, to, n, w int) []float32 {
	dst := make([]float32, rows*to*w)
	for r := 0; r < rows; r++ {
		copy(dst[r*to*w:r*to*w+n*w], src[r*from*w:r*from*w+n*w])
	}
	return dst
}

// Truncate forgets every cached token from slot n on, so that the cache continues its first n
// tokens (a shared prompt prefix kept for other continuations). Each row's next position
// becomes its number of real tokens among the first n, which is right when the cache assigned
// the positions (Batch.Pos nil).
func (c *Cache) Truncate(n int) error {
	if n < 0 || n > c.n {
		return fmt.Errorf("model: cache truncate: %d outside [0,%d]", n, c.n)
	}
	c.n = n
	for r := range c.next {
		real := int32(0)
		for t := 0; t < n; t++ {
			if c.mask[r*c.slots+t] != 0 {
				real++
			}
		}
		c.next[r] = real
	}
	return nil
}

// Clone returns an independent copy of the cache.
func (c *Cache) Clone() *Cache {
	rows := make([]int, c.rows)
	for i := range rows {
		rows[i] = i
	}
	out, _ := c.Select(rows) // rows are in range by construction
	return out
}

// Select returns a new cache whose row i is a copy of row rows[i] of c (rows may repeat, in any
// order), with the same spare room as c. Select on an empty cache returns an empty cache.
func (c *Cache) Select(rows []int) (*Cache, error) {
	out := &Cache{layers: c.layers, kvd: c.kvd, reserve: c.reserve}
	if c.rows == 0 {
		return out, nil
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("model: cache select: no rows")
	}
	for i, r := range rows {
		if r < 0 || r >= c.rows {
			return nil, fmt.Errorf("model: cache select: rows[%d]=%d outside the cache's %d rows", i, r, c.rows)
		}
	}
	out.rows, out.n, out.slots = len(rows), c.n, c.slots
	pick := func(src []float32, w int) []float32 {
		dst := make([]float32, len(rows)*c.slots*w)
		for i, r := range rows {
			copy(dst[i*c.slots*w:i*c.slots*w+c.n*w], src[r*c.slots*w:r*c.slots*w+c.n*w])
		}
		return dst
	}
	out.k = make([][]float32, len(c.k))
	out.v = make([][]float32, len(c.v))
	for l := range c.k {
		out.k[l] = pick(c.k[l], c.kvd)
		out.v[l] = pick(c.v[l], c.kvd)
	}
	out.mask = pick(c.mask, 1)
	out.next = make([]int32, len(rows))
	for i, r := range rows {
		out.next[i] = c.next[r]
	}
	return out, nil
}

// Expand returns a new cache that repeats each row of c k times in place (rows 0,0,..,1,1,..):
// a batch of prompts computed once then serves k continuations of each prompt in one batch.
func (c *Cache) Expand(k int) (*Cache, error) {
	if k < 1 {
		return nil, fmt.Errorf("model: cache expand: factor %d, want >= 1", k)
	}
	rows := make([]int, 0, c.rows*k)
	for r := 0; r < c.rows; r++ {
		for range k {
			rows = append(rows, r)
		}
	}
	return c.Select(rows)
}

// cacheStep is a forward pass's view of the cache: where the new tokens go.
type cacheStep struct {
	c     *Cache
	past  int     // cached tokens before this pass
	pos   []int32 // position ids of the new tokens
	fresh *Cache  // the empty cache's state before begin, restored by abort; nil if it was filled
}

// begin checks that batch b can extend the cache, makes room for its tokens, writes their
// padding mask into the spare slots and works out their positions, filling in st (a pass's
// step, owned by the caller). When b.Pos is nil the positions are written to pos ([B*T], the
// pass's scratch). The cache's visible state (Len, next positions) changes only in commit.
func (c *Cache) begin(cfg *Config, b Batch, st *cacheStep, pos []int32) error {
	kvd := cfg.NumKVHeads * cfg.HeadDim
	if c.rows != 0 {
		if c.rows != b.B {
			return fmt.Errorf("model: cache holds %d rows, batch has %d", c.rows, b.B)
		}
		if c.layers != cfg.NumLayers || c.kvd != kvd {
			return fmt.Errorf("model: cache was filled by a model with %d layers and %d key/value features, this one has %d and %d",
				c.layers, c.kvd, cfg.NumLayers, kvd)
		}
	}
	var fresh *Cache
	if c.rows == 0 {
		fresh = &Cache{reserve: c.reserve}
		slots := b.T + c.reserve
		c.rows, c.n, c.slots, c.layers, c.kvd, c.reserve = b.B, 0, slots, cfg.NumLayers, kvd, 0
		c.k = make([][]float32, cfg.NumLayers)
		c.v = make([][]float32, cfg.NumLayers)
		for l := range c.k {
			c.k[l] = make([]float32, b.B*slots*kvd)
			c.v[l] = make([]float32, b.B*slots*kvd)
		}
		c.mask = make([]float32, b.B*slots)
		c.next = make([]int32, b.B)
	}
	c.grow(c.n + b.T)
	*st = cacheStep{c: c, past: c.n, pos: b.Pos, fresh: fresh}
	if st.pos == nil {
		st.pos = pos[:b.B*b.T]
	}
	for r := 0; r < b.B; r++ {
		seen := int32(0)
		for t := 0; t < b.T; t++ {
			real := b.Mask == nil || b.Mask[r*b.T+t] != 0
			if real {
				seen++
				c.mask[r*c.slots+c.n+t] = 1
			} else {
				c.mask[r*c.slots+c.n+t] = 0
			}
			if b.Pos == nil {
				st.pos[r*b.T+t] = c.next[r] + max(0, seen-1)
			}
		}
	}
	return nil
}

// store writes layer l's keys and values of the new tokens ([B*T, kvd]) into the cache.
func (st *cacheStep) store(l int, k, v []float32, B, T int) {
	c := st.c
	w := c.kvd
	for r := 0; r < B; r++ {
		dst := (r*c.slots + st.past) * w
		copy(c.k[l][dst:dst+T*w], k[r*T*w:(r+1)*T*w])
		copy(c.v[l][dst:dst+T*w], v[r*T*w:(r+1)*T*w])
	}
}

// commit makes the new tokens part of the cache.
func (st *cacheStep) commit(b Batch) {
	c := st.c
	for r := 0; r < b.B; r++ {
		for t := b.T - 1; t >= 0; t-- {
			if b.Mask == nil || b.Mask[r*b.T+t] != 0 {
				c.next[r] = st.pos[r*b.T+t] + 1
				break
			}
		}
	}
	c.n += b.T
}

// abort undoes begin after a failed pass: a cache that was empty is empty again; a filled one
// only keeps its (invisible) extra room.
func (st *cacheStep) abort() {
	if st.fresh != nil {
		*st.c = *st.fresh
	}
}
