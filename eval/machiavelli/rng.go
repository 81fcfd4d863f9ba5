package machiavelli

import "math/bits"

// MT19937 is the Mersenne Twister of Matsumoto and Nishimura, the generator behind both
// Python's random module and numpy's legacy np.random.
type MT19937 struct {
	mt  [624]uint32
	idx int
}

func (m *MT19937) initGenrand(s uint32) {
	m.mt[0] = s
	for i := 1; i < 624; i++ {
		m.mt[i] = 1812433253*(m.mt[i-1]^(m.mt[i-1]>>30)) + uint32(i)
	}
	m.idx = 624
}

func (m *MT19937) initByArray(key []uint32) {
	m.initGenrand(19650218)
	i, j := 1, 0
	k := max(624, len(key))
	for ; k > 0; k-- {
		m.mt[i] = (m.mt[i] ^ ((m.mt[i-1] ^ (m.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= 624 {
			m.mt[0] = m.mt[623]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k = 623; k > 0; k-- {
		m.mt[i] = (m.mt[i] ^ ((m.mt[i-1] ^ (m.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= 624 {
			m.mt[0] = m.mt[623]
			i = 1
		}
	}
	m.mt[0] = 0x80000000
	m.idx = 624
}

// Uint32 returns the next 32-bit output.
func (m *MT19937) Uint32() uint32 {
	if m.idx >= 624 {
		for k := 0; k < 624; k++ {
			y := (m.mt[k] & 0x80000000) | (m.mt[(k+1)%624] & 0x7fffffff)
			v := m.mt[(k+397)%624] ^ (y >> 1)
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			m.mt[k] = v
		}
		m.idx = 0
	}
	y := m.mt[m.idx]
	m.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// PyRandom reproduces CPython's random.Random for the calls the player makes.
type PyRandom struct{ mt MT19937 }

// NewPyRandom is random.seed(seed) for a non-negative int seed.
func NewPyRandom(seed uint64) *PyRandom {
	r := &PyRandom{}
	r.Seed(seed)
	return r
}

// Seed is random.seed(seed): init_by_array over the 32-bit words of seed, least significant first.
func (r *PyRandom) Seed(seed uint64) {
	key := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		key = append(key, hi)
	}
	r.mt.initByArray(key)
}

// Getrandbits32 is random.getrandbits(32).
func (r *PyRandom) Getrandbits32() uint32 { return r.mt.Uint32() }

// randbelow is Random._randbelow_with_getrandbits for 0 < n < 2^32.
func (r *PyRandom) randbelow(n int64) int64 {
	k := bits.Len64(uint64(n))
	for {
		v := int64(r.mt.Uint32() >> (32 - k))
		if v < n {
			return v
		}
	}
}

// Randint is random.randint(a, b) for b-a+1 < 2^32.
func (r *PyRandom) Randint(a, b int64) int64 { return a + r.randbelow(b-a+1) }

// Choice is the index random.choice draws from a sequence of length n > 0.
func (r *PyRandom) Choice(n int) int { return int(r.randbelow(int64(n))) }

// NumpyRandom reproduces numpy's legacy global generator (np.random.seed / np.random.choice).
type NumpyRandom struct{ mt MT19937 }

// NewNumpyRandom is np.random.seed(seed).
func NewNumpyRandom(seed uint32) *NumpyRandom {
	r := &NumpyRandom{}
	r.Seed(seed)
	return r
}

// Seed is np.random.seed(seed) for a 32-bit seed (init_genrand).
func (r *NumpyRandom) Seed(seed uint32) { r.mt.initGenrand(seed) }

// Uint32 returns the next raw 32-bit word.
func (r *NumpyRandom) Uint32() uint32 { return r.mt.Uint32() }

// Choice is np.random.choice(n): uniform in [0, n) by masked rejection, no draw when n == 1.
func (r *NumpyRandom) Choice(n int) int {
	rng := uint32(n - 1)
	if rng == 0 {
		return 0
	}
	mask := rng
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	for {
		v := r.mt.Uint32() & mask
		if v <= rng {
			return int(v)
		}
	}
}

// Float64 is np.random.random_sample(): 53 bits from two words.
func (r *NumpyRandom) Float64() float64 {
	a := r.mt.Uint32() >> 5
	b := r.mt.Uint32() >> 6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

// ChoiceP is np.random.choice(len(p), p=p): the first index whose normalised cumulative sum
// exceeds one uniform draw.
func (r *NumpyRandom) ChoiceP(p []float64) int {
	cdf := make([]float64, len(p))
	var s float64
	for i, v := range p {
		s += v
		cdf[i] = s
	}
	for i := range cdf {
		cdf[i] /= s
	}
	u := r.Float64()
	for i, c := range cdf {
		if c > u {
			return i
		}
	}
	return len(p) - 1
}
