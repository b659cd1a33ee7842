package balance

import "math/bits"

// Rand is a small, fast, non-allocating pseudo-random generator
// (xorshift64*, seeded through splitmix64). It is not safe for concurrent
// use: each event loop owns one, which avoids both the lock of a shared
// generator and the allocation-free-but-contended math/rand/v2 global state.
// Its output is for load balancing only, never for anything secret.
type Rand struct {
	s uint64
}

// NewRand returns a generator seeded with seed. Any seed, including 0, is
// fine: it is scrambled so that nearby seeds give unrelated streams.
func NewRand(seed uint64) *Rand {
	r := &Rand{}
	r.Seed(seed)
	return r
}

// Seed resets the generator's state from seed.
func (r *Rand) Seed(seed uint64) {
	// splitmix64 finaliser: never yields 0 for the xorshift state in
	// practice, but guard anyway because 0 is xorshift's fixed point.
	z := seed + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	if z == 0 {
		z = 0x9e3779b97f4a7c15
	}
	r.s = z
}

// Uint64 returns a pseudo-random 64-bit value.
func (r *Rand) Uint64() uint64 {
	x := r.s
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	r.s = x
	return x * 0x2545f4914f6cdd1d
}

// Intn returns a uniformly distributed value in [0, n). It panics if n <= 0,
// like math/rand. It uses Lemire's multiply-and-reject method, which is
// unbiased and needs a division only on the rare rejection path.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("balance: Rand.Intn: n <= 0")
	}
	un := uint64(n)
	hi, lo := bits.Mul64(r.Uint64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), un)
		}
	}
	return int(hi)
}
