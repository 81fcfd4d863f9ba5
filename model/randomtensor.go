package model

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/valora-go/valora/internal/kern"
)

// safetensorsHeader is the header (length prefix included, padded so that the data starts
// 64-byte aligned) of a file holding specs in order, and the file's size.
func safetensorsHeader(specs []spec, dtype string, size int) ([]byte, int64, error) {
	type entry struct {
		DType   string  `json:"dtype"`
		Shape   []int   `json:"shape"`
		Offsets []int64 `json:"data_offsets"`
	}
	h := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, s := range specs {
		n := int64(size) * s.numel()
		h[s.name] = entry{stDType(dtype), s.shape, []int64{off, off + n}}
		off += n
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return nil, 0, err
	}
	for (8+len(raw))%64 != 0 {
		raw = append(raw, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(raw)))
	out = append(out, raw...)
	return out, int64(len(out)) + off, nil
}

// writeRandomTensor writes the values of one tensor: ones for a norm (1-D), else uniform
// values of standard deviation 0.02, generated in parallel in chunks whose streams depend
// only on seed, the tensor's name and the chunk's index.
func writeRandomTensor(w io.Writer, s spec, dtype string, seed uint64, bufs [][]byte) error {
	n := int(s.numel())
	size, _ := dtypeSize(dtype)
	h := fnv.New64a()
	h.Write([]byte(s.name))
	stream := h.Sum64()
	workers := len(bufs)
	scale := float32(0.02 * math.Sqrt(3))
	encode := func(dst []byte, v float32) {
		switch dtype {
		case "bfloat16":
			binary.LittleEndian.PutUint16(dst, kern.F32ToBF16(v))
		case "float16":
			binary.LittleEndian.PutUint16(dst, kern.F32ToF16(v))
		default:
			binary.LittleEndian.PutUint32(dst, math.Float32bits(v))
		}
	}
	for c0 := 0; c0 < n; c0 += randomChunk * workers {
		var wg sync.WaitGroup
		lens := make([]int, workers)
		for k := range workers {
			lo := c0 + k*randomChunk
			if lo >= n {
				break
			}
			cnt := min(randomChunk, n-lo)
			lens[k] = cnt
			wg.Add(1)
			go func(buf []byte, idx uint64) {
				defer wg.Done()
				if len(s.shape) == 1 {
					for i := range cnt {
						encode(buf[i*size:], 1)
					}
					return
				}
				pcg := rand.NewPCG(seed^stream, idx)
				for i := 0; i < cnt; i += 2 {
					r := pcg.Uint64()
					for j, bits := range [2]uint32{uint32(r), uint32(r >> 32)} {
						if i+j < cnt {
							u := float32(bits>>8) * (1.0 / (1 << 24)) // [0, 1)
							encode(buf[(i+j)*size:], (2*u-1)*scale)
						}
					}
				}
			}(bufs[k], uint64(lo/randomChunk))
		}
		wg.Wait()
		for k := 0; k < workers && lens[k] > 0; k++ { // in order
			if _, err := w.Write(bufs[k][:lens[k]*size]); err != nil {
				return err
			}
		}
	}
	return nil
}
